// HTTP/2 requests that could be read two ways once they are HTTP/1.1 (the h2→h1 smuggling
// vectors) are refused, sent as raw frames over h2c and over TLS: the stream is reset with
// PROTOCOL_ERROR, or the offending field never leaves lb (nghttp2 drops a field with CR, LF, NUL or
// an invalid name before lb sees it). Nothing of a refused request reaches the server, and lb
// goes on serving the next client.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lbYaml } from './helpers/config.js';
import { ErrorCode, getRequest, RawH2Client } from './helpers/h2-frames.js';
import { h2Request, h2Session } from './helpers/h2-clients.js';
import { startLb } from './helpers/lb.js';
import { startBackend } from './helpers/servers.js';
import { CertificateFolder, certEntry } from './helpers/tls.js';
import { translateRequest } from '../src/proxy/http2/request-head.js';

type Fields = Array<[string, string]>;
const post = (length: string): Fields => [[':method', 'POST'], [':scheme', 'http'], [':path', '/post'], [':authority', 'app.test'], ['content-length', length]];

/** Requests whose stream must be reset. */
const resetCases: Record<string, Fields> = {
  'connection': [...getRequest('/c'), ['connection', 'keep-alive']],
  'transfer-encoding': [...getRequest('/te'), ['transfer-encoding', 'chunked']],
  'keep-alive': [...getRequest('/ka'), ['keep-alive', 'timeout=5']],
  'upgrade': [...getRequest('/up'), ['upgrade', 'websocket']],
  'proxy-connection': [...getRequest('/pc'), ['proxy-connection', 'keep-alive']],
  'te other than trailers': [...getRequest('/tg'), ['te', 'gzip']],
  'uppercase name': [...getRequest('/uc'), ['X-Upper', '1']],
  'no :method': getRequest('/nm').slice(1),
  'no :path': getRequest('/np').filter(([n]) => n !== ':path'),
  'no :scheme': getRequest('/ns').filter(([n]) => n !== ':scheme'),
  'repeated :path': [...getRequest('/rp'), [':path', '/other']],
  'repeated :method': [[':method', 'GET'], ...getRequest('/rm')],
  'unknown pseudo-header': [...getRequest('/up2'), [':foo', 'bar']],
  'pseudo-header after a regular field': [getRequest('/pa')[0]!, ['x-a', '1'], ...getRequest('/pa').slice(1)],
  ':authority differs from host': [...getRequest('/ah'), ['host', 'evil.test']],
  'content-length with END_STREAM on the head': post('10'),
  'two content-lengths': [...post('3'), ['content-length', '3']],
};

/** Requests whose bad field nghttp2 drops: the request may pass, but the field must not. */
const droppedFields: Record<string, Fields> = {
  'CR in a value': [...getRequest('/cr'), ['x-bad', 'a\r\nx-injected: 1']],
  'LF in a value': [...getRequest('/lf'), ['x-bad', 'a\nx-injected: 1']],
  'NUL in a value': [...getRequest('/nul'), ['x-bad', 'a\0b']],
  'control character in a value': [...getRequest('/ctl'), ['x-bad', 'a\x01b']],
  'leading space in a value': [...getRequest('/sp'), ['x-bad', ' a']],
  'space in a name': [...getRequest('/sn'), ['x bad', '1']],
  'colon in a name': [...getRequest('/cn'), ['x:bad', '1']],
  'CR LF in a name': [...getRequest('/crn'), ['x-bad\r\nx-injected', '1']],
};

async function refusingLb(t: Parameters<typeof startLb>[0]) {
  const certs = new CertificateFolder(t);
  const cert = certs.certificate({ names: ['app.test'] });
  const seen: Array<{ url: string; headers: Record<string, unknown>; body: number }> = [];
  const backend = await startBackend(t, (req, res) => {
    let body = 0;
    req.on('data', (chunk: Buffer) => (body += chunk.length));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, body });
      res.end('ok');
    });
  });
  const lb = await startLb(t, lbYaml(`
routers:
  plain: { entrypoint: web, service: app }
  secure: { entrypoint: websecure, service: app }
services: { app: { servers: [ { url: "${backend.url}" } ] } }
`, { web: 'http2: { cleartext: true }', entrypoints: { websecure: `protocol: https, tls: { certificates: [ ${certEntry(cert)} ] }` } }));
  return { lb, seen };
}

for (const tls of [false, true]) {
  const over = tls ? 'TLS (ALPN h2)' : 'h2c';
  test(`over ${over}: connection-specific fields, bad names, broken pseudo-headers, a content-length that disagrees and a differing host are reset, and reach no server`, async (t) => {
    if (!CertificateFolder.available(t)) return;
    const { lb, seen } = await refusingLb(t);
    const port = lb.port(tls ? 'websecure' : 'web');
    for (const [name, fields] of Object.entries(resetCases)) {
      const client = await RawH2Client.connect(port, { tls });
      t.after(() => client.close());
      client.headers(1, fields, true);
      const end = await client.streamEnd(1);
      assert.ok(end.rst === ErrorCode.PROTOCOL_ERROR || end.goaway === ErrorCode.PROTOCOL_ERROR, `${name}: ${JSON.stringify(end)}`);
      client.close();
    }
    for (const [name, declared, sent] of [['more DATA than content-length', '5', 10], ['less DATA than content-length', '10', 3]] as const) {
      const client = await RawH2Client.connect(port, { tls });
      t.after(() => client.close());
      client.headers(1, post(declared), false);
      client.data(1, Buffer.alloc(sent, 0x61), true);
      const end = await client.streamEnd(1);
      assert.ok(end.rst === ErrorCode.PROTOCOL_ERROR || end.goaway === ErrorCode.PROTOCOL_ERROR, `${name}: ${JSON.stringify(end)}`);
      client.close();
    }
    assert.deepEqual(seen.map((s) => s.url), [], 'no refused request reached the server');
    const session = h2Session(t, tls ? `https://127.0.0.1:${port}` : `http://127.0.0.1:${port}`);
    assert.equal((await h2Request(session, { ':path': '/after', ':authority': 'app.test' })).status, 200, 'lb goes on serving');
    assert.deepEqual(seen.map((s) => s.url), ['/after']);
  });

  test(`over ${over}: a field with CR, LF, NUL or another control character, or a bad name, never reaches the server`, async (t) => {
    if (!CertificateFolder.available(t)) return;
    const { lb, seen } = await refusingLb(t);
    const port = lb.port(tls ? 'websecure' : 'web');
    for (const [name, fields] of Object.entries(droppedFields)) {
      const client = await RawH2Client.connect(port, { tls });
      t.after(() => client.close());
      client.headers(1, fields, true);
      await client.streamEnd(1);
      client.close();
      const path = fields.find(([n]) => n === ':path')![1];
      const arrived = seen.find((s) => s.url === path);
      if (!arrived) continue;
      for (const header of Object.keys(arrived.headers)) assert.ok(!/bad|injected/.test(header), `${name}: ${header} reached the server`);
    }
  });
}

test('lb\'s own checks refuse what nghttp2 might let through, before any HTTP/1.1 is made', () => {
  const refused = (fields: Fields, endStream = true) => translateRequest(fields.flat(), endStream).refused;
  for (const [name, fields] of Object.entries({ ...resetCases, ...droppedFields })) assert.ok(refused(fields), name);
  assert.ok(refused([[':method', 'GET'], [':scheme', 'http'], [':path', 'http://app.test/'], [':authority', 'app.test']]), 'absolute-form :path');
  assert.ok(refused([[':method', 'GET'], [':scheme', 'http'], [':path', '/a b'], [':authority', 'app.test']]), 'space in :path');
  assert.ok(refused([[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'a.test/x']]), 'slash in :authority');
  assert.ok(refused([[':method', 'G T'], [':scheme', 'http'], [':path', '/'], [':authority', 'a.test']]), 'space in :method');
  assert.ok(refused([[':method', 'CET'], [':scheme', 'http'], [':path', '/'], [':authority', 'a.test']]), 'a method llhttp does not know (found by the h2-request fuzz target)');
  assert.ok(refused([[':method', 'CONNECT'], [':authority', 'a.test:443']]), 'CONNECT');
  assert.ok(refused([[':method', 'GET'], [':scheme', 'ftp'], [':path', '/'], [':authority', 'a.test']]), 'unknown :scheme');
  assert.ok(refused([...post('1x')], false), 'content-length not a number');
  const ok = translateRequest([...getRequest('/p?q'), ['host', 'APP.test'], ['te', 'trailers'], ['cookie', 'a=1'], ['cookie', 'b=2']].flat(), true);
  assert.deepEqual(ok.head, { method: 'GET', path: '/p?q', authority: 'app.test', fields: ['cookie', 'a=1; b=2'], contentLength: 0, trailers: true });
});
