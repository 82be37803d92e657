// A gRPC service for tests, with one method of each kind, defined without .proto files: messages
// are JSON. Served and called with @grpc/grpc-js, as real gRPC servers and clients are.
import * as grpc from '@grpc/grpc-js';

export interface Message {
  text: string;
  n?: number;
}

const serialize = (message: Message): Buffer => Buffer.from(JSON.stringify(message));
const deserialize = (bytes: Buffer): Message => JSON.parse(bytes.toString()) as Message;
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/lb.test.Echo/${name}`,
  requestStream,
  responseStream,
  requestSerialize: serialize,
  requestDeserialize: deserialize,
  responseSerialize: serialize,
  responseDeserialize: deserialize,
});

export const echoService = {
  unary: method('Unary', false, false),
  serverStream: method('ServerStream', false, true),
  clientStream: method('ClientStream', true, false),
  bidi: method('Bidi', true, true),
} satisfies grpc.ServiceDefinition;

export const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo');
export type EchoClientType = InstanceType<typeof EchoClient> & Record<keyof typeof echoService, (...args: unknown[]) => unknown>;

/**
 * Unary echoes (text `slow` waits 2 s; `fail` ends with NOT_FOUND and a grpc-message), the server
 * stream sends `n` messages 50 ms apart (`n` 0: never ends), the client stream joins what it
 * got, bidi answers each message.
 */
const implementation: grpc.UntypedServiceImplementation = {
  unary(call: grpc.ServerUnaryCall<Message, Message>, callback: grpc.sendUnaryData<Message>) {
    const { text } = call.request;
    if (text === 'fail') return callback({ code: grpc.status.NOT_FOUND, details: 'no such thing: ünïcode' });
    const metadata = new grpc.Metadata();
    metadata.set('x-trailer', 'kept');
    if (text === 'slow') return void setTimeout(() => callback(null, { text }, metadata), 2000);
    callback(null, { text: `echo ${text}` }, metadata);
  },
  serverStream(call: grpc.ServerWritableStream<Message, Message>) {
    const count = call.request.n ?? 3;
    let i = 0;
    const timer = setInterval(() => {
      if (call.cancelled) return clearInterval(timer);
      call.write({ text: `part ${i}`, n: i });
      if (++i === count) {
        clearInterval(timer);
        call.end();
      }
    }, 50);
  },
  clientStream(call: grpc.ServerReadableStream<Message, Message>, callback: grpc.sendUnaryData<Message>) {
    const texts: string[] = [];
    call.on('data', (message: Message) => texts.push(message.text));
    call.on('end', () => callback(null, { text: texts.join('+'), n: texts.length }));
  },
  bidi(call: grpc.ServerDuplexStream<Message, Message>) {
    call.on('data', (message: Message) => call.write({ text: `re ${message.text}` }));
    call.on('end', () => call.end());
  },
};

export interface GrpcServerOptions {
  /** The port to bind (one a stopped server had); default: a free one. */
  port?: number;
  /** TLS instead of h2c. */
  credentials?: grpc.ServerCredentials;
  /** Adds more services, such as grpc.health.v1. */
  setup?: (server: grpc.Server) => void;
}

/** The echo service on a loopback port (h2c unless `credentials` say TLS). */
export async function startGrpcServer(options: GrpcServerOptions = {}): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(echoService, implementation);
  options.setup?.(server);
  const credentials = options.credentials ?? grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(`127.0.0.1:${options.port ?? 0}`, credentials, (err, bound) => (err ? reject(err) : resolve(bound))));
  return { server, port };
}
