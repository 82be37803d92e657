// A child of bench/held-connections.ts: holds COUNT client connections to 127.0.0.1:PORT from
// LOCAL_ADDRESS, in a process of its own so that each holder has its own open-file limit.
//   idle:      each connection makes one request, reads its answer, and stays open (keep-alive);
//   slowloris: each sends a request line and a Host line, then one more header byte every second,
//              never ending its head.
// Prints "ready N" once all are open, then "closed N" (connections lb closed) when told SIGTERM.
// Usage: node --import tsx bench/connection-holder.ts PORT COUNT LOCAL_ADDRESS idle|slowloris
import { connect, type Socket } from 'node:net';

const [portText, countText, localAddress, mode] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
if (!(port > 0) || !(count > 0) || !localAddress || (mode !== 'idle' && mode !== 'slowloris')) {
  console.error('usage: connection-holder.ts PORT COUNT LOCAL_ADDRESS idle|slowloris');
  process.exit(2);
}

const sockets: Socket[] = [];
let closedByLb = 0;
let stopping = false;

function open(): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress }, () => {
      if (mode === 'slowloris') {
        socket.write('GET / HTTP/1.1\r\nHost: held.example.com\r\nX-Drip: ');
        resolve();
      } else {
        socket.write('GET / HTTP/1.1\r\nHost: held.example.com\r\n\r\n');
      }
    });
    if (mode === 'idle') socket.once('data', () => resolve());
    socket.on('error', reject);
    socket.once('close', () => {
      if (!stopping) closedByLb++;
      reject(new Error('closed before it was established'));
    });
    sockets.push(socket);
  });
}

const BATCH = 500;
for (let opened = 0; opened < count; opened += BATCH) {
  await Promise.all(Array.from({ length: Math.min(BATCH, count - opened) }, open));
}
process.stdout.write(`ready ${sockets.length}\n`);

const drip = mode === 'slowloris' ? setInterval(() => {
  for (const socket of sockets) if (!socket.destroyed) socket.write('x');
}, 1000) : undefined;

process.on('SIGTERM', () => {
  stopping = true;
  clearInterval(drip);
  process.stdout.write(`closed ${closedByLb}\n`, () => {
    for (const socket of sockets) socket.destroy();
    process.exit(0);
  });
});
