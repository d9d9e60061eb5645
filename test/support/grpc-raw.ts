/**
 * A plain @grpc/grpc-js client: the second, independent client stack. It
 * shares nothing with the server's adapter, only the generated message
 * schemas and grpc-js's generic Client.
 */
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";

export function rawClient(address: string): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure());
}

export function codec<Req extends DescMessage, Res extends DescMessage>(req: Req, res: Res) {
  return {
    serialize: (m: MessageShape<Req>) => Buffer.from(toBinary(req, m)),
    deserialize: (b: Buffer) => fromBinary(res, b),
    create: (init: Parameters<typeof create<Req>>[1]) => create(req, init),
  };
}

export function unaryCall<Res>(client: grpc.Client, path: string, bytes: Buffer, deserialize: (b: Buffer) => Res): Promise<Res> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(path, (b: Buffer) => b, deserialize, bytes, (err, value) => (err ? reject(err) : resolve(value!))),
  );
}
