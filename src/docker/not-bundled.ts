// What the bundle has in place of ssh2, @grpc/grpc-js, @grpc/proto-loader and protobufjs
// (tsconfig.json "paths", which ncc resolves by). docker-modem and dockerode load them for ssh://
// Docker hosts and BuildKit builds, neither of which the action uses: it talks to unix, tcp, http
// and https hosts (target.ts) and builds no image. Loaded, they cost every run memory (ssh2 alone
// allocates a 16 MB WebAssembly heap for its Poly1305 cipher) and start-up time; bundled, even
// unloaded, their source is read and parsed (protobufjs: a third of the main chunk).

function notBundled(what: string): never {
  throw new Error(`${what} is not part of vic-lb-action's bundle`)
}

// ssh2: docker-modem makes one only for an ssh:// host.
export class Client {
  constructor() {
    notBundled('SSH transport (ssh:// Docker hosts)')
  }
}

// @grpc/grpc-js: dockerode makes one only for a BuildKit build's session.
export class Server {
  constructor() {
    notBundled('BuildKit session (gRPC)')
  }
}

// @grpc/proto-loader and protobufjs: likewise, and for a BuildKit build's status.
export function loadSync(): never {
  return notBundled('BuildKit build (gRPC, protobuf)')
}
