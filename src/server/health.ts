/**
 * The standard gRPC health service (grpc.health.v1.Health): Check answers at
 * once, Watch streams every change. "" stands for the whole server.
 */
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthCheckResponseSchema,
  type HealthCheckRequest,
} from "../../gen/grpc/health/v1/health_pb.js";
import { grpcServiceDefinition, MalformedRequest } from "./grpc-definition.js";

export { ServingStatus };

/** Watchers per service are bounded by the server's stream limits; each is dropped when its call ends. */
export class HealthRegistry {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<(s: ServingStatus) => void>>();
  /** How to end each open Watch call. */
  private readonly enders = new Set<() => void>();
  private stopping = false;

  constructor(services: string[]) {
    for (const name of ["", ...services]) this.statuses.set(name, ServingStatus.SERVING);
  }

  set(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    for (const notify of this.watchers.get(service) ?? []) notify(status);
  }

  /** Mark every service at once. */
  setAll(status: ServingStatus): void {
    for (const name of this.statuses.keys()) this.set(name, status);
  }

  /**
   * The server is stopping: every service is NOT_SERVING, and each Watch call
   * ends (OK) right after it is told so. Load balancers watch health; an open
   * Watch would otherwise hold a graceful shutdown until its deadline.
   */
  shutdown(): void {
    this.stopping = true;
    this.setAll(ServingStatus.NOT_SERVING);
    for (const end of this.enders) end();
    this.enders.clear();
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  register(server: grpc.Server): void {
    server.addService(grpcServiceDefinition(Health), {
      Check: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        if (call.request instanceof MalformedRequest) {
          return callback({ code: grpc.status.INVALID_ARGUMENT, details: "malformed health check request" });
        }
        const service = (call.request as HealthCheckRequest).service;
        const status = this.get(service);
        if (status === undefined) {
          return callback({ code: grpc.status.NOT_FOUND, details: `unknown service "${service}"` });
        }
        callback(null, create(HealthCheckResponseSchema, { status }));
      },
      Watch: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        if (call.request instanceof MalformedRequest) {
          call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details: "malformed health check request" });
          return;
        }
        const service = (call.request as HealthCheckRequest).service;
        const send = (status: ServingStatus) => call.write(create(HealthCheckResponseSchema, { status }));
        send(this.get(service) ?? ServingStatus.SERVICE_UNKNOWN);
        if (this.stopping) return call.end();
        let set = this.watchers.get(service);
        if (!set) this.watchers.set(service, (set = new Set()));
        set.add(send);
        const end = () => call.end();
        this.enders.add(end);
        const stop = () => {
          set!.delete(send);
          this.enders.delete(end);
          if (set!.size === 0) this.watchers.delete(service);
        };
        call.on("cancelled", stop);
        call.on("close", stop);
        call.on("error", stop);
      },
    });
  }
}
