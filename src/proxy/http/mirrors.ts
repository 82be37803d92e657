// The copies of requests that mirroring services send (control/service-split.ts chooses which).
// A copy goes out after the request itself, through the mirror's own pools, and its response is
// read and dropped: nothing of it reaches the client, whose response never waits for it.
import type { Backend, PickContext } from '../../balancer/index.js';
import type { ServicePool } from '../../control/snapshot.js';
import { chooseService, type MirrorCopy } from '../../control/service-split.js';
import type { Metrics } from '../../metrics/metrics.js';
import { ChunkedDecoder } from '../http1/chunked.js';
import type { StreamedBody, UpstreamHandler, UpstreamRequest } from '../http1/upstream-connection.js';

type MirrorResult = 'answered' | 'failed' | 'no_backend' | 'body_too_large' | 'busy';

/** Where a copy is sent: the same choice of connection as the request's own (pooled, or a PROXY header first). */
export type UpstreamFor = (backend: Backend, service: ServicePool) => { dispatch(request: UpstreamRequest, handler: UpstreamHandler): void };

/** The request a copy repeats: its head for the backend, and its body read whole (or none). */
export interface MirroredRequest {
  readonly method: string;
  readonly head: Buffer;
  readonly body: Buffer[] | null;
  readonly reset: boolean;
  readonly freshOnly: boolean;
  readonly requestBodyTimeout: number;
}

/** A mirror's response, read to its end and dropped. */
class DroppedResponse implements UpstreamHandler {
  private over = false;

  constructor(
    private readonly backend: Backend,
    private readonly done: (result: MirrorResult) => void,
  ) {
    backend.inFlight++;
  }

  onConnect(): void {}
  onHeaders(): boolean {
    return true;
  }
  onData(): boolean {
    return true;
  }
  onBodySent(): void {}
  onComplete(): void {
    this.finish('answered');
  }
  onError(): void {
    this.finish('failed');
  }

  private finish(result: MirrorResult): void {
    if (this.over) return;
    this.over = true;
    this.backend.inFlight--;
    this.done(result);
  }
}

/**
 * One entrypoint's mirror copies. Each mirror of each mirroring service has at most `maxInFlight`
 * copies open at once; beyond that a copy is dropped, not queued, so that a slow or hanging mirror
 * holds at most maxInFlight × maxBodySize bytes of bodies, and its own timeouts free the places.
 */
export class Mirrors {
  private readonly inFlight = new Map<string, number>();

  constructor(private readonly metrics: Metrics) {}

  /**
   * The copies whose body can be copied: at most `maxBodySize`. The others are counted. A chunked
   * body (`contentLength` -1) is measured as it streams (MirroredBody), so all its copies wait.
   */
  withCopyableBody(copies: readonly MirrorCopy[], contentLength: number): readonly MirrorCopy[] | undefined {
    const admitted = contentLength < 0 ? copies : this.fitting(copies, contentLength);
    return admitted.length > 0 ? admitted : undefined;
  }

  /** The copies whose `maxBodySize` a body of `bodyBytes` fits; the others are counted. */
  fitting(copies: readonly MirrorCopy[], bodyBytes: number): readonly MirrorCopy[] {
    return copies.filter((copy) => {
      const fits = bodyBytes <= copy.config.maxBodyBytes;
      if (!fits) this.count(copy, 'body_too_large');
      return fits;
    });
  }

  send(copies: readonly MirrorCopy[], request: MirroredRequest, context: PickContext, upstreamFor: UpstreamFor): void {
    for (const copy of copies) {
      const key = `${copy.from}\0${copy.mirror.name}`;
      const open = this.inFlight.get(key) ?? 0;
      if (open >= copy.config.maxInFlight) {
        this.count(copy, 'busy');
        continue;
      }
      const service = chooseService(copy.mirror, context).service;
      const backend = service.balancer.pick(context);
      if (!backend) {
        this.count(copy, 'no_backend');
        continue;
      }
      this.inFlight.set(key, open + 1);
      const handler = new DroppedResponse(backend, (result) => {
        this.inFlight.set(key, this.inFlight.get(key)! - 1);
        this.count(copy, result);
      });
      const { timeouts } = service.config;
      // The body is read whole, so no rate applies to it; the response is read as fast as it comes.
      upstreamFor(backend, service).dispatch({ ...request, headersTimeout: timeouts.responseHeadersMs, bodyTimeout: timeouts.idleMs, minRequestBodyRate: undefined, responseReadTimeout: timeouts.idleMs, rawChunked: true, responseEdits: undefined }, handler);
    }
  }

  private count(copy: MirrorCopy, result: MirrorResult): void {
    this.metrics.mirroredRequests.labels(copy.from, copy.mirror.name, result).inc();
  }
}

/**
 * A chunked request body on its way to the main service, copied aside for its mirrors while it
 * streams, as far as the largest `maxBodySize` allows: the main request is not held up, and the
 * copies go once the body has ended (`ended`: its framed chunks, or none when it outgrew every
 * limit, and its payload's length).
 */
export class MirroredBody implements StreamedBody {
  private chunks: Buffer[] | undefined = [];
  private payload = 0;
  private readonly decoder = new ChunkedDecoder((data) => (this.payload += data.length));

  constructor(
    private readonly body: StreamedBody,
    private readonly limit: number,
    private readonly ended: (chunks: Buffer[] | undefined, payload: number) => void,
  ) {}

  get started(): boolean {
    return this.body.started;
  }

  start(write: (chunk: Buffer) => boolean, end: () => void): void {
    this.body.start(
      (chunk) => {
        if (this.chunks) {
          // The main request has read it as valid framing already.
          this.decoder.feed(chunk, 0, chunk.length);
          if (this.payload > this.limit) this.chunks = undefined;
          else this.chunks.push(chunk);
        }
        return write(chunk);
      },
      () => {
        end();
        this.ended(this.chunks, this.payload);
      },
    );
  }

  resume(): void {
    this.body.resume();
  }
}
