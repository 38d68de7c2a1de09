// A value given to the action that it cannot use. Thrown before anything on the Docker host
// changes; its message names the input and the accepted form, never a secret value.
export class InputError extends Error {}
