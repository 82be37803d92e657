// The Keep-Alive header's timeout parameter, which tells lb how long a server keeps an idle
// connection (unsafeReuse: fresh): read from the bytes of a response head, strictly.
import assert from 'node:assert/strict';
import test from 'node:test';
import { parseResponseHead } from '../src/proxy/http1/response-head.js';

const timeoutOf = (field: string | undefined) => {
  const head = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: 0\r\n${field === undefined ? '' : `${field}\r\n`}\r\n`, 'latin1');
  return parseResponseHead(head, 0, head.length, false)!.keepAliveTimeoutS;
};

test('Keep-Alive: timeout=N is read in any case, in any place among the parameters, with spaces around =', () => {
  assert.equal(timeoutOf('Keep-Alive: timeout=5'), 5);
  assert.equal(timeoutOf('keep-alive: timeout=5, max=100'), 5);
  assert.equal(timeoutOf('KEEP-ALIVE: max=100,TIMEOUT = 75'), 75);
  assert.equal(timeoutOf('Keep-Alive: max=99 , timeout=2 '), 2);
});

test('a Keep-Alive header without a numeric timeout, or none at all, names no timeout', () => {
  assert.equal(timeoutOf(undefined), undefined);
  assert.equal(timeoutOf('Keep-Alive: max=100'), undefined);
  assert.equal(timeoutOf('Keep-Alive: timeout=abc'), undefined);
  assert.equal(timeoutOf('Keep-Alive: timeout=5s'), undefined);
  assert.equal(timeoutOf('Keep-Alive: xtimeout=5'), undefined);
  assert.equal(timeoutOf('Keep-Alive: timeout'), undefined);
  assert.equal(timeoutOf('Keep-Alive: timeout=12345678'), undefined, 'more than 7 digits');
  assert.equal(timeoutOf('X-Keep-Alive: timeout=5'), undefined);
  assert.equal(timeoutOf('Proxy-Connection: timeout=5'), undefined);
});
