// Node's own HTTP parser (llhttp, through the binding Node's http module uses), driven directly so
// that thousands of inputs can be compared with lb's parser in a second.
import { createRequire } from 'node:module';

interface NodeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  close(): void;
  [callback: number]: unknown;
}
interface ParserModule {
  HTTPParser: { new (): NodeParser; REQUEST: number; RESPONSE: number; kOnHeaders: number; kOnHeadersComplete: number; kOnBody: number; kOnMessageComplete: number };
  methods: string[];
}
const { HTTPParser, methods } = createRequire(import.meta.url)('_http_common') as ParserModule;

export interface ParsedMessage {
  method?: string;
  url?: string;
  status?: number;
  statusText?: string;
  versionMinor: number;
  rawHeaders: string[];
  keepAlive: boolean;
  body: Buffer;
  complete: boolean;
}

export interface LlhttpResult {
  messages: ParsedMessage[];
  error?: string;
}

/**
 * Parses `input` as Node's http server (REQUEST) or client (RESPONSE) would, with Node's default
 * 16 KiB head limit and no leniency. `headRequest`: responses answer HEAD (no body).
 */
export function llhttp(kind: 'request' | 'response', input: Buffer, options: { headRequest?: boolean; eof?: boolean } = {}): LlhttpResult {
  const parser = new HTTPParser();
  parser.initialize(kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, 16 * 1024, 0);
  const messages: ParsedMessage[] = [];
  let pendingHeaders: string[] = [];
  let pendingUrl = '';
  let current: ParsedMessage | undefined;
  const bodies: Buffer[] = [];
  parser[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
    pendingHeaders.push(...headers);
    pendingUrl += url;
  };
  parser[HTTPParser.kOnHeadersComplete] = (_major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, status: number, statusText: string, _upgrade: boolean, keepAlive: boolean) => {
    current = {
      versionMinor: minor,
      rawHeaders: headers ?? pendingHeaders,
      keepAlive,
      body: Buffer.alloc(0),
      complete: false,
      ...(kind === 'request' ? { method: methods[method], url: url ?? pendingUrl } : { status, statusText }),
    };
    pendingHeaders = [];
    pendingUrl = '';
    messages.push(current);
    // As Node's http client does (parserOnIncomingClient): no body after HEAD, nor after a 1xx
    // other than 101, whose framing headers llhttp alone would honour for 104-199.
    return kind === 'response' && (options.headRequest || (status >= 100 && status < 200 && status !== 101)) ? 1 : 0;
  };
  parser[HTTPParser.kOnBody] = (chunk: Buffer) => bodies.push(Buffer.from(chunk));
  parser[HTTPParser.kOnMessageComplete] = () => {
    // Trailers arrive through kOnHeaders too; they belong to this message, not the next.
    pendingHeaders = [];
    pendingUrl = '';
    if (current) {
      current.body = Buffer.concat(bodies);
      current.complete = true;
    }
    bodies.length = 0;
  };
  let outcome: number | Error | undefined = parser.execute(input);
  if (!(outcome instanceof Error) && options.eof) outcome = parser.finish();
  parser.close();
  if (current && !current.complete) current.body = Buffer.concat(bodies);
  return outcome instanceof Error ? { messages, error: (outcome as Error & { code?: string }).code ?? outcome.message } : { messages };
}
