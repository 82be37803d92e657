/** One HTTP entrypoint `web` whose every request goes to service `svc`, defined by `service` (a YAML flow mapping). */
export function serviceConfig(service: string): string {
  return `
entrypoints: { web: { address: "127.0.0.1:0" } }
admin: { address: "127.0.0.1:0" }
routers: { all: { entrypoint: web, service: svc } }
services: { svc: ${service} }
`;
}
