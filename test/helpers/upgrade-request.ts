/** A raw WebSocket upgrade request for `path`, to send with rawRequest(). */
export function upgradeRequest(path = '/'): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: ws.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
  );
}
