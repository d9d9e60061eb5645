/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha), answered from the
 * file descriptors that the generated code embeds: the same bytes protoc
 * produced, with their original file names and imports, so strict clients
 * (grpcurl 1.9) can resolve every type, google.protobuf.* included.
 */
import { create, toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { grpcServiceDefinition, MalformedRequest } from "./grpc-definition.js";

const NOT_FOUND = 5;
const INVALID_ARGUMENT = 3;

/** Index of everything reflection can describe: files by name and the file defining each symbol. */
class DescriptorIndex {
  readonly files = new Map<string, DescFile>();
  readonly symbols = new Map<string, DescFile>();
  readonly serviceNames: string[];

  constructor(services: DescService[]) {
    this.serviceNames = services.map((s) => s.typeName);
    for (const s of services) this.addFile(s.file);
  }

  private addFile(file: DescFile): void {
    if (this.files.has(file.proto.name)) return;
    this.files.set(file.proto.name, file);
    for (const dep of file.dependencies) this.addFile(dep);
    const addSymbol = (name: string) => this.symbols.set(name, file);
    for (const m of file.messages) this.addMessage(m, addSymbol);
    for (const e of file.enums) addSymbol(e.typeName);
    for (const s of file.services) {
      addSymbol(s.typeName);
      for (const method of s.methods) addSymbol(`${s.typeName}.${method.name}`);
    }
    for (const x of file.extensions) addSymbol(x.typeName);
  }

  private addMessage(m: DescFile["messages"][number], add: (name: string) => void): void {
    add(m.typeName);
    for (const f of m.fields) add(`${m.typeName}.${f.name}`);
    for (const nested of m.nestedMessages) this.addMessage(nested, add);
    for (const e of m.nestedEnums) add(e.typeName);
  }

  /** The file and all it imports, transitively, each encoded once; the file itself first. */
  encodeWithDependencies(file: DescFile): Uint8Array[] {
    const seen = new Set<string>();
    const out: Uint8Array[] = [];
    const visit = (f: DescFile) => {
      if (seen.has(f.proto.name)) return;
      seen.add(f.proto.name);
      out.push(toBinary(FileDescriptorProtoSchema, f.proto));
      for (const dep of f.dependencies) visit(dep);
    };
    visit(file);
    return out;
  }
}

type ReflectionModule = typeof v1 | typeof v1alpha;

function answer(index: DescriptorIndex, mod: ReflectionModule, req: v1.ServerReflectionRequest) {
  const base = { validHost: req.host, originalRequest: req };
  const files = (file: DescFile | undefined, what: string) =>
    file
      ? create(mod.ServerReflectionResponseSchema as typeof v1.ServerReflectionResponseSchema, {
          ...base,
          messageResponse: {
            case: "fileDescriptorResponse",
            value: { fileDescriptorProto: index.encodeWithDependencies(file) },
          },
        })
      : error(NOT_FOUND, `${what} not found`);
  const error = (code: number, message: string) =>
    create(mod.ServerReflectionResponseSchema as typeof v1.ServerReflectionResponseSchema, {
      ...base,
      messageResponse: { case: "errorResponse", value: { errorCode: code, errorMessage: message } },
    });
  const r = req.messageRequest;
  switch (r.case) {
    case "listServices":
      return create(mod.ServerReflectionResponseSchema as typeof v1.ServerReflectionResponseSchema, {
        ...base,
        messageResponse: {
          case: "listServicesResponse",
          value: { service: index.serviceNames.map((name) => ({ name })) },
        },
      });
    case "fileByFilename":
      return files(index.files.get(r.value), `file ${r.value}`);
    case "fileContainingSymbol":
      return files(index.symbols.get(r.value.replace(/^\./, "")), `symbol ${r.value}`);
    case "fileContainingExtension":
      return error(NOT_FOUND, `extension ${r.value.extensionNumber} of ${r.value.containingType} not found`);
    case "allExtensionNumbersOfType":
      return index.symbols.has(r.value)
        ? create(mod.ServerReflectionResponseSchema as typeof v1.ServerReflectionResponseSchema, {
            ...base,
            messageResponse: {
              case: "allExtensionNumbersResponse",
              value: { baseTypeName: r.value, extensionNumber: [] },
            },
          })
        : error(NOT_FOUND, `type ${r.value} not found`);
    default:
      return error(INVALID_ARGUMENT, "reflection request has no message_request set");
  }
}

function handler(index: DescriptorIndex, mod: ReflectionModule) {
  return (call: grpc.ServerDuplexStream<unknown, unknown>) => {
    call.on("data", (req: unknown) => {
      if (req instanceof MalformedRequest) {
        call.emit("error", { code: INVALID_ARGUMENT, details: `malformed reflection request: ${req.reason}` });
        return;
      }
      call.write(toBinary(mod.ServerReflectionResponseSchema as typeof v1.ServerReflectionResponseSchema, answer(index, mod, req as v1.ServerReflectionRequest)));
    });
    call.on("end", () => call.end());
    call.on("error", () => {});
  };
}

/** Register both reflection versions; they describe `services` and themselves. */
export function addReflection(server: grpc.Server, services: DescService[]): void {
  const all = [...services, v1.ServerReflection, v1alpha.ServerReflection];
  const index = new DescriptorIndex(all);
  for (const mod of [v1, v1alpha] as const) {
    server.addService(grpcServiceDefinition(mod.ServerReflection), {
      ServerReflectionInfo: handler(index, mod),
    });
  }
}
