import type { DescExtension, DescFile, DescMessage, DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { toBinary } from "@bufbuild/protobuf";

/**
 * What server reflection needs to know about the served services: their files and
 * every file they import, indexed by file name, by fully-qualified symbol and by
 * extended message.
 */
export class ReflectionIndex {
  readonly serviceNames: string[];
  private readonly files = new Map<string, DescFile>();
  private readonly symbols = new Map<string, DescFile>();
  private readonly extensionsByType = new Map<string, DescExtension[]>();
  private readonly encoded = new Map<DescFile, Uint8Array>();

  constructor(services: readonly DescService[]) {
    this.serviceNames = [...new Set(services.map((s) => s.typeName))].sort();
    for (const service of services) this.addFile(service.file);
  }

  /** The file with this name (e.g. "apiary/v1/hive.proto"), or undefined. */
  fileByName(name: string): DescFile | undefined {
    return this.files.get(name);
  }

  /** The file declaring a package-qualified symbol: service, method, message, enum, extension. */
  fileContainingSymbol(symbol: string): DescFile | undefined {
    return this.symbols.get(symbol.replace(/^\./, ""));
  }

  /** The file declaring extension `number` of message `typeName`, or undefined. */
  fileContainingExtension(typeName: string, number: number): DescFile | undefined {
    return this.extensionsByType.get(typeName)?.find((ext) => ext.number === number)?.file;
  }

  /** Extension numbers known for a message, or undefined if the message is not known. */
  extensionNumbersOf(typeName: string): number[] | undefined {
    const file = this.symbols.get(typeName);
    if (!file || !isMessageIn(file, typeName)) return undefined;
    return (this.extensionsByType.get(typeName) ?? []).map((ext) => ext.number).sort((a, b) => a - b);
  }

  /** The serialized FileDescriptorProto of a file followed by those of all its transitive imports. */
  encodeWithDependencies(file: DescFile): Uint8Array[] {
    const ordered: DescFile[] = [];
    const seen = new Set<DescFile>();
    const visit = (f: DescFile): void => {
      if (seen.has(f)) return;
      seen.add(f);
      ordered.push(f);
      f.dependencies.forEach(visit);
    };
    visit(file);
    return ordered.map((f) => this.encode(f));
  }

  private encode(file: DescFile): Uint8Array {
    let bytes = this.encoded.get(file);
    if (!bytes) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      this.encoded.set(file, bytes);
    }
    return bytes;
  }

  private addFile(file: DescFile): void {
    const name = file.proto.name;
    if (this.files.has(name)) return;
    this.files.set(name, file);
    for (const service of file.services) {
      this.symbols.set(service.typeName, file);
      for (const method of service.methods) this.symbols.set(`${service.typeName}.${method.name}`, file);
    }
    for (const enumDesc of file.enums) this.symbols.set(enumDesc.typeName, file);
    for (const message of file.messages) this.addMessage(file, message);
    file.extensions.forEach((ext) => this.addExtension(file, ext));
    file.dependencies.forEach((dep) => this.addFile(dep));
  }

  private addMessage(file: DescFile, message: DescMessage): void {
    this.symbols.set(message.typeName, file);
    for (const enumDesc of message.nestedEnums) this.symbols.set(enumDesc.typeName, file);
    for (const nested of message.nestedMessages) this.addMessage(file, nested);
    message.nestedExtensions.forEach((ext) => this.addExtension(file, ext));
  }

  private addExtension(file: DescFile, ext: DescExtension): void {
    this.symbols.set(ext.typeName, file);
    const list = this.extensionsByType.get(ext.extendee.typeName) ?? [];
    list.push(ext);
    this.extensionsByType.set(ext.extendee.typeName, list);
  }
}

function isMessageIn(file: DescFile, typeName: string): boolean {
  const search = (messages: DescMessage[]): boolean =>
    messages.some((m) => m.typeName === typeName || search(m.nestedMessages));
  return search(file.messages);
}
