// This module is browser compatible.
/**
 * The socket layer: the {@linkcode Socket} contract every transport implements, the
 * in-process {@linkcode memoryPair} and {@linkcode MemoryNetwork}, and the WebSocket client
 * {@linkcode webSocketConnect}.
 *
 * The TCP adapters are imported by path, so a bundle only pulls in the one it uses:
 * `socket/node.ts` (`nodeAdapter`), `socket/deno.ts` (`denoAdapter`) and `socket/bun.ts`
 * (`bunAdapter`); `socket/runtime.ts` (`loadTcpAdapter()`) picks the one for the current
 * runtime.
 *
 * @example Echo across an in-process network
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryNetwork } from "./mod.ts";
 *
 * const network = new MemoryNetwork();
 * const listener = await network.listen({ port: 0 }, (socket) => {
 *   socket.setHandlers({ onData: (chunk) => socket.write(chunk) });
 * });
 * const socket = await network.connect({ hostname: "localhost", port: listener.address.port });
 * const echoed = new Promise<Uint8Array>((resolve) => {
 *   socket.setHandlers({ onData: (chunk) => resolve(chunk.slice()) });
 * });
 * socket.write(new TextEncoder().encode("ping"));
 * assert.equal(new TextDecoder().decode(await echoed), "ping");
 * socket.close();
 * await listener.close();
 * ```
 *
 * @module
 */

export type {
  AcceptHandler,
  ConnectOptions,
  Listener,
  ListenOptions,
  PeerCertificate,
  Socket,
  SocketAdapter,
  SocketAddress,
  SocketHandlers,
  TlsOptions,
} from "./types.ts";
export { MemoryNetwork, memoryPair } from "./memory.ts";
export type { MemoryPairOptions } from "./memory.ts";
export { webSocketConnect } from "./websocket.ts";
export type { WebSocketConnectOptions, WebSocketConstructor, WebSocketLike } from "./websocket.ts";
export { acceptWebSocket, WebSocketCloseCode, WebSocketError } from "./websocket_server.ts";
export type { HttpRequest, HttpResponse, WebSocketServerOptions } from "./websocket_server.ts";
