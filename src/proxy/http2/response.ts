import { constants, type ServerHttp2Stream } from 'node:http2';

/** Streams that lb reset itself: their 'aborted' is not the client's doing. */
const resetByLb = new WeakSet<ServerHttp2Stream>();

/** Resets a stream (RST_STREAM with `code`), marked as lb's own reset. */
export function resetStream(stream: ServerHttp2Stream, code: number): void {
  resetByLb.add(stream);
  stream.close(code);
}

/**
 * The response is complete (ended, or about to be) while the client may still be sending its
 * request: an answer before the body ended (a 408 for a stalled upload, a 413, a server that
 * answered early). RST_STREAM NO_ERROR then tells the client to stop sending (RFC 9113 §8.1);
 * Node sends it after the response's last frame, and by itself only for a request whose body was
 * never read.
 */
export function stopRequestAfterResponse(stream: ServerHttp2Stream): void {
  if (!stream.closed && !stream.destroyed && stream.state.remoteClose === 0) resetStream(stream, constants.NGHTTP2_NO_ERROR);
}

/** Whether lb, not the client, reset this stream. */
export function wasResetByLb(stream: ServerHttp2Stream): boolean {
  return resetByLb.has(stream);
}

/** A whole response lb makes itself (errors, redirects), with a plain-text body, on a stream that is still open. */
export function sendHttp2Response(stream: ServerHttp2Stream, status: number, headers: ReadonlyArray<readonly [string, string]>, body: string | Buffer, hsts: string | undefined): void {
  if (stream.destroyed || stream.headersSent) return;
  const out: Record<string, string | number | string[]> = { ':status': status, 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) };
  // A name given twice (an auth server's Set-Cookie lines) keeps every value; a given Content-Type replaces lb's.
  const given = new Set<string>();
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    const prior = out[key];
    out[key] = !given.has(key) || prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [String(prior), value];
    given.add(key);
  }
  if (hsts) out['strict-transport-security'] = hsts;
  try {
    stream.respond(out);
  } catch {
    // A header Node's http2 will not send (lb.yaml cannot name one): the stream is reset, lb goes on.
    return resetStream(stream, constants.NGHTTP2_INTERNAL_ERROR);
  }
  stream.end(body);
  stopRequestAfterResponse(stream);
}
