// The grpc.health.v1 service for tests, from its .proto through @grpc/proto-loader (protobufjs
// encodes the answers, not lb's code), served by @grpc/grpc-js beside the echo service.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const definition = loadSync(fileURLToPath(new URL('../fixtures/grpc-health.proto', import.meta.url)), { enums: String, defaults: true });
const healthService = definition['grpc.health.v1.Health'] as grpc.ServiceDefinition;

export type ServingStatus = 'SERVING' | 'NOT_SERVING';

/**
 * Adds the health service to `server`; `statuses` maps a service name ("" for the server as a
 * whole) to its status and may be changed while the server runs; a name it lacks is NOT_FOUND,
 * as grpc's own implementations answer.
 */
export function addHealthService(server: grpc.Server, statuses: Map<string, ServingStatus>): void {
  server.addService(healthService, {
    check(call: grpc.ServerUnaryCall<{ service: string }, unknown>, callback: grpc.sendUnaryData<{ status: ServingStatus }>) {
      const status = statuses.get(call.request.service);
      if (!status) return callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
      callback(null, { status });
    },
  });
}
