// A value given to the action that it cannot use. Thrown before anything on the Docker host
// changes; its message names the input and the accepted form, never a secret value.
export class InputError extends Error {}

// A run that can no longer vouch for its deployment's lease (lock.ts): another run may be changing
// the deployment, so this one changes nothing more, its undo included.
export class LeaseLostError extends Error {}
