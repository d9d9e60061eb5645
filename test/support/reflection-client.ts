/**
 * A client that knows no chat schema: it learns every type from the server's
 * reflection service, as grpcurl does, and builds a registry that must
 * resolve every import (google.protobuf.* included) or fail.
 */
import { create, createFileRegistry, fromBinary, toBinary, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

export type ReflectionVersion = "v1" | "v1alpha";

type Request = v1.ServerReflectionRequest;
type Response = v1.ServerReflectionResponse;

export class ReflectionClient {
  private readonly call: grpc.ClientDuplexStream<Request, Response>;
  private readonly pending: ((r: Response) => void)[] = [];

  constructor(client: grpc.Client, version: ReflectionVersion) {
    const mod = version === "v1" ? v1 : v1alpha;
    const reqSchema = mod.ServerReflectionRequestSchema as typeof v1.ServerReflectionRequestSchema;
    const resSchema = mod.ServerReflectionResponseSchema as typeof v1.ServerReflectionResponseSchema;
    this.call = client.makeBidiStreamRequest(
      `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`,
      (m: Request) => Buffer.from(toBinary(reqSchema, m)),
      (b: Buffer) => fromBinary(resSchema, b),
    );
    this.call.on("data", (r: Response) => this.pending.shift()?.(r));
    this.call.on("error", () => {});
    this.request = (init) =>
      new Promise((resolve) => {
        this.pending.push(resolve);
        this.call.write(create(reqSchema, init));
      });
  }

  readonly request: (init: Partial<Pick<Request, "messageRequest">>) => Promise<Response>;

  async listServices(): Promise<string[]> {
    const r = await this.request({ messageRequest: { case: "listServices", value: "*" } });
    if (r.messageResponse.case !== "listServicesResponse") throw new Error(`unexpected ${r.messageResponse.case}`);
    return r.messageResponse.value.service.map((s) => s.name);
  }

  async files(req: Request["messageRequest"]): Promise<FileDescriptorProto[]> {
    const r = await this.request({ messageRequest: req });
    if (r.messageResponse.case === "errorResponse") {
      throw new Error(`reflection error ${r.messageResponse.value.errorCode}: ${r.messageResponse.value.errorMessage}`);
    }
    if (r.messageResponse.case !== "fileDescriptorResponse") throw new Error(`unexpected ${r.messageResponse.case}`);
    return r.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
  }

  /** Resolve a symbol the way grpcurl does: its file, then every missing import by file name. */
  async registryFor(symbols: string[]): Promise<FileRegistry> {
    const files = new Map<string, FileDescriptorProto>();
    const add = (list: FileDescriptorProto[]) => list.forEach((f) => files.set(f.name, f));
    for (const symbol of symbols) add(await this.files({ case: "fileContainingSymbol", value: symbol }));
    for (let missing = this.missing(files); missing.length > 0; missing = this.missing(files)) {
      for (const name of missing) add(await this.files({ case: "fileByFilename", value: name }));
    }
    // Reflection returns the requested file first; a FileDescriptorSet wants imports first.
    const ordered: FileDescriptorProto[] = [];
    const visit = (f: FileDescriptorProto) => {
      if (ordered.includes(f)) return;
      f.dependency.forEach((d) => visit(files.get(d)!));
      ordered.push(f);
    };
    files.forEach(visit);
    return createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
  }

  close(): void {
    this.call.end();
  }

  private missing(files: Map<string, FileDescriptorProto>): string[] {
    return [...files.values()].flatMap((f) => f.dependency).filter((d) => !files.has(d));
  }
}
