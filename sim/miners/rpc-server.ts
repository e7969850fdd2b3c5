import net from 'node:net';

/**
 * The far side of the cgminer-style API (drivers/miner/rpc.ts), for simulated miners: one request
 * per connection, answered with `handle`'s text and a NUL, then closed, as stock firmware does.
 * A request is complete when it parses as JSON or the client half-closes. `handle` may return
 * undefined to hang (a miner that never answers) or throw to drop the connection.
 */
export type RpcHandler = (request: string, socket: net.Socket) => string | undefined | Promise<string | undefined>;

export interface RpcServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

const MAX_REQUEST = 64 * 1024;

export function serveRpc(host: string, port: number, handle: RpcHandler): Promise<RpcServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = '';
    let answered = false;
    const answer = async () => {
      if (answered) return;
      answered = true;
      try {
        const reply = await handle(buf, socket);
        if (reply === undefined || socket.destroyed) return;
        socket.end(`${reply}\0`);
      } catch {
        socket.destroy();
      }
    };
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      if (buf.length > MAX_REQUEST) return socket.destroy();
      try { JSON.parse(buf); void answer(); } catch { /* not complete yet */ }
    });
    socket.on('end', () => void answer());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const addr = server.address() as net.AddressInfo;
      resolve({
        host,
        port: addr.port,
        close: () => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
      });
    });
  });
}
