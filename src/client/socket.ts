// The smallest WebSocket surface the SDK needs. Both the browser's WebSocket
// and the `ws` package satisfy it, so Node hosts pass `{ WebSocket }` from `ws`.

export interface SocketEventLike {
  readonly type: string;
  data?: unknown;
  code?: number;
  reason?: string;
}

export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(
    type: 'open' | 'message' | 'close' | 'error',
    listener: (event: SocketEventLike) => void,
  ): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export const OPEN = 1;

/** Text of a message event whatever the runtime hands us (string, Buffer, ArrayBuffer). */
export function frameText(data: unknown): string | null {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(data);
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(data);
  return null;
}
