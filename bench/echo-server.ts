// A TCP echo server for the tcp-echo scenario of bench/run.ts: every byte it reads goes back.
// Usage: node --import tsx bench/echo-server.ts --port 18083
import { createServer } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string', default: '18083' } } });

createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
}).listen(Number(values.port), '127.0.0.1', 4096);
