// This module is browser compatible.
/**
 * The WebSocket side of `acceptWebSocket()` (websocket_server.ts) once the handshake
 * is done: RFC 6455 framing behind the {@linkcode Socket} contract, and its errors.
 *
 * @module
 */

import type { PeerCertificate, Socket, SocketAddress, SocketHandlers } from "./types.ts";

/** Close status codes (RFC 6455 7.4.1) this module sends. */
export const WebSocketCloseCode = {
  /** Normal closure. */
  Normal: 1000,
  /** The peer broke the framing rules. */
  ProtocolError: 1002,
  /** A kind of data that cannot be accepted: text frames, for MQTT [MQTT-6.0.0-1]. */
  UnsupportedData: 1003,
  /** A close reason that is not UTF-8. */
  InvalidPayload: 1007,
  /** A frame or message larger than `maxFrameSize`. */
  MessageTooBig: 1009,
} as const;

/** A close status code from {@linkcode WebSocketCloseCode}. */
export type WebSocketCloseCode = typeof WebSocketCloseCode[keyof typeof WebSocketCloseCode];

/**
 * The peer broke RFC 6455 (or MQTT's use of it): the connection was closed with
 * `closeCode`. Passed to `onClose` of the socket given to `onAccept`.
 *
 * @example Inspect the close code
 * ```ts
 * import assert from "node:assert/strict";
 * import { WebSocketCloseCode, WebSocketError } from "./websocket_server.ts";
 *
 * const error = new WebSocketError(WebSocketCloseCode.UnsupportedData, "text frame");
 * assert.equal(error.closeCode, 1003);
 * assert.equal(error.name, "WebSocketError");
 * ```
 */
export class WebSocketError extends Error {
  /** The close status code sent to the peer. */
  readonly closeCode: number;

  /**
   * Create the error.
   *
   * @param closeCode The close status code sent to the peer.
   * @param message What went wrong.
   */
  constructor(closeCode: number, message: string) {
    super(message);
    this.name = "WebSocketError";
    this.closeCode = closeCode;
  }
}

/** Largest payload of a control frame (RFC 6455 5.5). */
const MAX_CONTROL_PAYLOAD = 125;

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

const EMPTY = new Uint8Array(0);

/** XOR `data` in place with the 4-byte `mask`, starting at mask byte `index`. */
function unmask(data: Uint8Array, mask: Uint8Array, index: number): void {
  const n = data.length;
  let i = 0;
  // Realign so that data[i] takes mask[0].
  for (; i < n && ((index + i) & 3) !== 0; i++) data[i]! ^= mask[(index + i) & 3]!;
  const m0 = mask[0]!;
  const m1 = mask[1]!;
  const m2 = mask[2]!;
  const m3 = mask[3]!;
  for (; i + 3 < n; i += 4) {
    data[i]! ^= m0;
    data[i + 1]! ^= m1;
    data[i + 2]! ^= m2;
    data[i + 3]! ^= m3;
  }
  for (; i < n; i++) data[i]! ^= mask[(index + i) & 3]!;
}

/** A close code a peer may send (RFC 6455 7.4). */
function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999);
}

const fatalDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * An accepted WebSocket behind the {@linkcode Socket} contract. Inbound frames are parsed
 * incrementally: the header (at most 14 bytes) is gathered across reads, payloads are
 * unmasked in place in the raw socket's chunk and passed on, and only control payloads
 * (at most 125 bytes) are copied. Bytes are held only while not deliverable: before
 * `setHandlers()` and while paused.
 */
export class ServerWebSocket implements Socket {
  #raw: Socket;
  #maxFrameSize: number;
  #handlers: SocketHandlers | undefined;
  #ready = false;
  #paused = false;
  #rawPaused = false;
  /** `close()`, `destroy()`, a close frame or a failure happened: `closed` is true. */
  #open = true;
  /** Inbound bytes are no longer looked at. */
  #inputDone = false;
  #rawClosed = false;
  #closeNotified = false;
  #error: Error | undefined;
  /** Raw bytes held until they can be delivered. */
  #held: Uint8Array = EMPTY;
  #heldLen = 0;
  #drainScheduled = false;
  // Inbound frame state.
  #header = new Uint8Array(14);
  #headerLen = 0;
  #headerSize = 2;
  #inPayload = false;
  #fin = false;
  #opcode = 0;
  #remaining = 0;
  #mask = new Uint8Array(4);
  #maskIndex = 0;
  /** A fragmented binary message is under way: continuations are expected. */
  #fragmented = false;
  #messageSize = 0;
  #control: Uint8Array = EMPTY;
  #controlLen = 0;
  /** Outbound frame header, reused. */
  #out = new Uint8Array(10);
  #local: SocketAddress;
  #remote: SocketAddress;
  /** The raw socket's, present only where the raw socket has it (wss: client certificates). */
  peerCertificate?: () => PeerCertificate | undefined;

  constructor(raw: Socket, maxFrameSize: number) {
    this.#raw = raw;
    this.#maxFrameSize = maxFrameSize;
    this.#local = { ...raw.localAddress, transport: "websocket" };
    this.#remote = { ...raw.remoteAddress, transport: "websocket" };
    if (raw.peerCertificate !== undefined) this.peerCertificate = () => raw.peerCertificate!();
    raw.setHandlers({
      onData: this.#onRawData,
      onDrain: this.#onRawDrain,
      onClose: this.#onRawClose,
    });
  }

  get closed(): boolean {
    return !this.#open;
  }

  get bufferedAmount(): number {
    return this.#raw.bufferedAmount;
  }

  get encrypted(): boolean {
    return this.#raw.encrypted;
  }

  get remoteAddress(): SocketAddress {
    return this.#remote;
  }

  get localAddress(): SocketAddress {
    return this.#local;
  }

  /** Called by the handshake once `onAccept` has returned, with the bytes read past the head. */
  start(rest: Uint8Array, more: Uint8Array): void {
    if (rest.length > 0) this.#onRawData(rest);
    if (more.length > 0) this.#onRawData(more);
    this.#syncRaw();
  }

  setHandlers(handlers: SocketHandlers): void {
    this.#handlers = handlers;
    if (this.#ready) return;
    this.#ready = true;
    this.#syncRaw();
    if (this.#heldLen > 0 || this.#rawClosed) this.#scheduleDrain();
  }

  write(data: Uint8Array): boolean {
    if (!this.#open) return false;
    // An empty message would carry nothing of a byte stream.
    if (data.length === 0) return this.#raw.write(EMPTY);
    return this.#send(OP_BINARY, data);
  }

  close(): void {
    if (!this.#open) return;
    this.#shut();
    this.#sendClose(WebSocketCloseCode.Normal);
    this.#raw.close();
  }

  destroy(error?: Error): void {
    if (this.#rawClosed) return;
    this.#shut();
    if (error !== undefined) this.#error ??= error;
    this.#raw.destroy(error);
  }

  pause(): void {
    this.#paused = true;
    this.#syncRaw();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#syncRaw();
    if (this.#heldLen > 0) this.#scheduleDrain();
  }

  /** Pause the raw socket while nothing can be delivered, so bytes wait in the runtime. */
  #syncRaw(): void {
    if (this.#rawClosed) return;
    const pause = this.#paused || !this.#ready;
    if (pause === this.#rawPaused) return;
    this.#rawPaused = pause;
    if (pause) this.#raw.pause();
    else this.#raw.resume();
  }

  #shut(): void {
    this.#open = false;
    this.#inputDone = true;
    this.#held = EMPTY;
    this.#heldLen = 0;
  }

  #send(opcode: number, payload: Uint8Array): boolean {
    const n = payload.length;
    const h = this.#out;
    h[0] = 0x80 | opcode;
    let size: number;
    if (n < 126) {
      h[1] = n;
      size = 2;
    } else if (n < 0x10000) {
      h[1] = 126;
      h[2] = n >>> 8;
      h[3] = n & 0xff;
      size = 4;
    } else {
      h[1] = 127;
      const high = Math.floor(n / 0x1_0000_0000);
      h[2] = 0;
      h[3] = 0;
      h[4] = (high >>> 8) & 0xff;
      h[5] = high & 0xff;
      h[6] = (n >>> 24) & 0xff;
      h[7] = (n >>> 16) & 0xff;
      h[8] = (n >>> 8) & 0xff;
      h[9] = n & 0xff;
      size = 10;
    }
    const ok = this.#raw.write(h.subarray(0, size));
    return n === 0 ? ok : this.#raw.write(payload);
  }

  #sendClose(code: number): void {
    const h = this.#out;
    h[0] = 0x80 | OP_CLOSE;
    h[1] = 2;
    h[2] = code >>> 8;
    h[3] = code & 0xff;
    this.#raw.write(h.subarray(0, 4));
  }

  /** Close with `code` because the peer broke the protocol. */
  #fail(code: number, message: string): void {
    if (!this.#open) {
      this.#inputDone = true;
      return;
    }
    this.#error ??= new WebSocketError(code, message);
    this.#shut();
    this.#sendClose(code);
    this.#raw.close();
  }

  #onRawData = (chunk: Uint8Array): void => {
    if (this.#inputDone) return;
    if (this.#heldLen > 0 || !this.#ready || this.#paused) {
      this.#hold(chunk);
      return;
    }
    this.#consume(chunk);
  };

  #onRawDrain = (): void => {
    if (this.#open) this.#handlers?.onDrain?.();
  };

  #onRawClose = (error?: Error): void => {
    if (this.#rawClosed) return;
    this.#rawClosed = true;
    this.#open = false;
    if (error !== undefined) this.#error ??= error;
    if (!this.#ready) return; // setHandlers() delivers what is held, then the close.
    // Bytes held for a paused driver are dropped: the connection is gone.
    if (!this.#paused && this.#heldLen > 0) this.#drain();
    this.#notifyClose();
  };

  #hold(bytes: Uint8Array): void {
    const needed = this.#heldLen + bytes.length;
    if (needed > this.#held.length) {
      const next = new Uint8Array(Math.max(needed, this.#held.length * 2, 4096));
      next.set(this.#held.subarray(0, this.#heldLen));
      this.#held = next;
    }
    this.#held.set(bytes, this.#heldLen);
    this.#heldLen = needed;
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    queueMicrotask(this.#drainTask);
  }

  #drainTask = (): void => {
    this.#drainScheduled = false;
    if (!this.#paused) this.#drain();
    if (this.#rawClosed) this.#notifyClose();
  };

  #drain(): void {
    while (this.#heldLen > 0 && !this.#paused && !this.#inputDone) {
      const data = this.#held.subarray(0, this.#heldLen);
      // Whatever is held again (a pause inside onData) goes to a fresh buffer.
      this.#held = EMPTY;
      this.#heldLen = 0;
      this.#consume(data);
    }
  }

  #consume(chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.#inputDone) return;
      if (this.#paused) {
        this.#hold(chunk.subarray(i));
        return;
      }
      if (!this.#inPayload) {
        const header = this.#header;
        while (this.#headerLen < this.#headerSize && i < n) {
          header[this.#headerLen++] = chunk[i++]!;
          if (this.#headerLen === 2 && !this.#checkHeaderStart()) return;
        }
        if (this.#headerLen < this.#headerSize) return;
        this.#startPayload();
        continue;
      }
      const take = Math.min(this.#remaining, n - i);
      const payload = chunk.subarray(i, i + take);
      i += take;
      unmask(payload, this.#mask, this.#maskIndex);
      this.#maskIndex = (this.#maskIndex + take) & 3;
      this.#remaining -= take;
      if (this.#opcode >= OP_CLOSE) {
        this.#control.set(payload, this.#controlLen);
        this.#controlLen += take;
      } else if (take > 0) {
        this.#handlers?.onData?.(payload);
      }
      if (this.#remaining === 0) this.#endFrame();
    }
  }

  /** Check the first two header bytes and size the rest; `false` once failed. */
  #checkHeaderStart(): boolean {
    const b0 = this.#header[0]!;
    const b1 = this.#header[1]!;
    const opcode = b0 & 0x0f;
    const length7 = b1 & 0x7f;
    if ((b0 & 0x70) !== 0) {
      this.#fail(WebSocketCloseCode.ProtocolError, "Cannot receive WebSocket frame: RSV bits set");
      return false;
    }
    if (opcode === OP_TEXT) {
      // MQTT control packets MUST be sent in binary data frames [MQTT-6.0.0-1].
      this.#fail(
        WebSocketCloseCode.UnsupportedData,
        "Cannot receive WebSocket frame: text frames are not allowed",
      );
      return false;
    }
    if (opcode >= OP_CLOSE) {
      if (opcode > OP_PONG) return this.#badOpcode(opcode);
      if ((b0 & 0x80) === 0 || length7 > MAX_CONTROL_PAYLOAD) {
        this.#fail(
          WebSocketCloseCode.ProtocolError,
          `Cannot receive WebSocket frame: control frame with opcode ${opcode} is fragmented or longer than 125 bytes`,
        );
        return false;
      }
    } else if (opcode === OP_CONTINUATION) {
      if (!this.#fragmented) {
        this.#fail(
          WebSocketCloseCode.ProtocolError,
          "Cannot receive WebSocket frame: continuation without a message to continue",
        );
        return false;
      }
    } else if (opcode === OP_BINARY) {
      if (this.#fragmented) {
        this.#fail(
          WebSocketCloseCode.ProtocolError,
          "Cannot receive WebSocket frame: new message before the last one ended",
        );
        return false;
      }
    } else {
      return this.#badOpcode(opcode);
    }
    if ((b1 & 0x80) === 0) {
      // A server MUST close the connection upon receiving an unmasked frame (RFC 6455 5.1).
      this.#fail(WebSocketCloseCode.ProtocolError, "Cannot receive WebSocket frame: not masked");
      return false;
    }
    this.#headerSize = 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + 4;
    return true;
  }

  #badOpcode(opcode: number): false {
    this.#fail(
      WebSocketCloseCode.ProtocolError,
      `Cannot receive WebSocket frame: opcode ${opcode} is reserved`,
    );
    return false;
  }

  /** The header is complete: read the length and mask and enter the payload. */
  #startPayload(): void {
    const h = this.#header;
    const size = this.#headerSize;
    const length7 = h[1]! & 0x7f;
    let length: number;
    if (length7 === 126) {
      length = (h[2]! << 8) | h[3]!;
    } else if (length7 === 127) {
      const high = ((h[2]! << 24) | (h[3]! << 16) | (h[4]! << 8) | h[5]!) >>> 0;
      const low = ((h[6]! << 24) | (h[7]! << 16) | (h[8]! << 8) | h[9]!) >>> 0;
      if (high >= 0x8000_0000) {
        // The most significant bit MUST be 0 (RFC 6455 5.2).
        this.#fail(
          WebSocketCloseCode.ProtocolError,
          "Cannot receive WebSocket frame: 64-bit length has its top bit set",
        );
        return;
      }
      length = high * 0x1_0000_0000 + low;
    } else {
      length = length7;
    }
    this.#mask.set(h.subarray(size - 4, size));
    this.#fin = (h[0]! & 0x80) !== 0;
    this.#opcode = h[0]! & 0x0f;
    this.#headerLen = 0;
    this.#headerSize = 2;
    if (this.#opcode < OP_CLOSE) {
      const total = this.#messageSize + length;
      if (length > this.#maxFrameSize || total > this.#maxFrameSize) {
        this.#fail(
          WebSocketCloseCode.MessageTooBig,
          `Cannot receive WebSocket frame: ${total} bytes exceed maxFrameSize ${this.#maxFrameSize}`,
        );
        return;
      }
      this.#messageSize = total;
    } else {
      if (this.#control.length === 0) this.#control = new Uint8Array(MAX_CONTROL_PAYLOAD);
      this.#controlLen = 0;
    }
    this.#remaining = length;
    this.#maskIndex = 0;
    this.#inPayload = true;
    if (length === 0) this.#endFrame();
  }

  #endFrame(): void {
    this.#inPayload = false;
    const opcode = this.#opcode;
    if (opcode < OP_CLOSE) {
      this.#fragmented = !this.#fin;
      if (this.#fin) this.#messageSize = 0;
    } else if (opcode === OP_PING) {
      if (this.#open) this.#send(OP_PONG, this.#control.subarray(0, this.#controlLen));
    } else if (opcode === OP_CLOSE) {
      this.#onCloseFrame();
    }
    // Pongs need no answer.
  }

  #onCloseFrame(): void {
    const length = this.#controlLen;
    const payload = this.#control;
    let code: number | undefined;
    if (length === 1) {
      this.#fail(
        WebSocketCloseCode.ProtocolError,
        "Cannot receive WebSocket close: 1-byte payload",
      );
      return;
    }
    if (length >= 2) {
      code = (payload[0]! << 8) | payload[1]!;
      if (!validCloseCode(code)) {
        this.#fail(
          WebSocketCloseCode.ProtocolError,
          `Cannot receive WebSocket close: code ${code} is not allowed`,
        );
        return;
      }
      try {
        fatalDecoder.decode(payload.subarray(2, length));
      } catch {
        this.#fail(
          WebSocketCloseCode.InvalidPayload,
          "Cannot receive WebSocket close: reason is not UTF-8",
        );
        return;
      }
    }
    if (!this.#open) {
      // The answer to our own close frame.
      this.#inputDone = true;
      return;
    }
    this.#shut();
    // Echo the status code (RFC 6455 5.5.1), then close: the server closes TCP first (7.1.1).
    if (code === undefined) this.#send(OP_CLOSE, EMPTY);
    else this.#sendClose(code);
    this.#raw.close();
  }

  #notifyClose(): void {
    if (this.#closeNotified) return;
    this.#closeNotified = true;
    this.#held = EMPTY;
    this.#heldLen = 0;
    const handlers = this.#handlers;
    this.#handlers = undefined;
    handlers?.onClose?.(this.#error);
  }
}
