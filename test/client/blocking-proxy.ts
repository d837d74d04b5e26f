// An HTTP proxy in front of a real node, as a corporate proxy that blocks
// WebSockets: plain requests (SSE streams included, unbuffered) are
// forwarded; an Upgrade is refused with 400 ('refuse'), forwarded with its
// Upgrade headers stripped ('strip': the node sees a plain GET /v1/ws), or
// tunnelled ('allow'). cut() kills every connection through it, mid-stream.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';

export type UpgradeMode = 'refuse' | 'strip' | 'allow';

export class BlockingProxy {
  mode: UpgradeMode;
  upgradesRefused = 0;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: http.Server,
    private readonly target: URL,
    mode: UpgradeMode,
  ) {
    this.mode = mode;
  }

  static async start(targetUrl: string, mode: UpgradeMode = 'refuse'): Promise<BlockingProxy> {
    const server = http.createServer();
    const proxy = new BlockingProxy(server, new URL(targetUrl), mode);
    server.on('connection', (s) => proxy.track(s));
    server.on('request', (req, res) => proxy.forward(req, res));
    server.on('upgrade', (req, socket, head) => proxy.upgrade(req, socket as net.Socket, head));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Destroys every connection through the proxy (client and node side). */
  cut(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  async close(): Promise<void> {
    this.cut();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(s: net.Socket): void {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => {});
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse, headers = req.headers): void {
    const up = http.request(
      {
        host: this.target.hostname,
        port: this.target.port,
        method: req.method,
        path: req.url,
        headers: { ...headers, host: this.target.host },
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        res.flushHeaders();
        upRes.pipe(res); // streams: an SSE response is passed on chunk by chunk
        upRes.on('error', () => res.destroy());
      },
    );
    up.on('socket', (s) => this.track(s));
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  }

  private upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    if (this.mode === 'refuse') {
      this.upgradesRefused++;
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (this.mode === 'strip') {
      this.upgradesRefused++;
      // Forward as a plain request: the node answers it as one, and that answer goes back.
      const headers = { ...req.headers };
      for (const h of ['upgrade', 'connection', 'sec-websocket-key', 'sec-websocket-version'])
        delete headers[h];
      const res = new http.ServerResponse(req);
      res.assignSocket(socket);
      res.on('finish', () => socket.end());
      this.forward(req, res, headers);
      return;
    }
    const up = net.connect(Number(this.target.port), this.target.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length) up.write(head);
      socket.pipe(up);
      up.pipe(socket);
    });
    this.track(up);
    up.on('close', () => socket.destroy());
    socket.on('close', () => up.destroy());
  }
}
