/**
 * Adapts a protobuf-es service descriptor to a grpc-js service definition, so
 * the .proto stays the single source of truth for method paths, stream flags
 * and message codecs.
 */
import { fromBinary, toBinary, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";

/** A request the server could not decode; handlers answer it instead of crashing. */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

/** View bytes as a Buffer without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function serializer(schema: DescMessage) {
  // Already-encoded bytes pass straight through: that is how encode-once frames reach the wire.
  return (value: unknown): Buffer =>
    asBuffer(value instanceof Uint8Array ? value : toBinary(schema, value as never));
}

function deserializer(schema: DescMessage) {
  return (bytes: Buffer): unknown => {
    try {
      return fromBinary(schema, bytes);
    } catch (err) {
      return new MalformedRequest(err instanceof Error ? err.message : String(err));
    }
  };
}

function methodDefinition(method: DescMethod): MethodDefinition<unknown, unknown> {
  return {
    path: `/${method.parent.typeName}/${method.name}`,
    requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
    responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
    requestSerialize: serializer(method.input),
    requestDeserialize: deserializer(method.input),
    responseSerialize: serializer(method.output),
    responseDeserialize: deserializer(method.output),
    originalName: method.localName,
  };
}

/** grpc-js definition keyed by the method's proto name (e.g. "Chat", "ListRooms"). */
export function grpcServiceDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) definition[method.name] = methodDefinition(method);
  return definition;
}
