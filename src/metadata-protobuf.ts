/**
 * Reads a `PartialObjectMetadataList` in the API server's protobuf encoding, for the metadata
 * lists of every pass. The JSON of the same page is three times larger, and JSON.parse builds
 * every field of every object (most of it their managedFields) only to drop it: here the fields a
 * pass does not read are skipped by their length, and only the annotations asked for are decoded.
 *
 * Layout (k8s.io/apimachinery, runtime and meta/v1 generated.proto): the body is the magic
 * `k8s\0`, then a runtime.Unknown whose field 2 (raw) holds the PartialObjectMetadataList:
 * field 1 ListMeta (3: continue), field 2 each PartialObjectMetadata (1: ObjectMeta, in which
 * 1: name, 3: namespace, 5: uid, 6: resourceVersion, 12: annotations, each a map entry of
 * 1: key and 2: value).
 */

/** The content type of a protobuf answer, and the media type to ask for it. */
export const protobufContentType = 'application/vnd.kubernetes.protobuf';

/** An object of the list as a pass reads it, in the shape the JSON of the list has. */
export interface MetadataItem {
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
  };
}

export interface MetadataPage {
  items: MetadataItem[];
  metadata: { continue?: string };
}

const magic = [0x6b, 0x38, 0x73, 0x00];

/** A protobuf body that cannot be read as a metadata list. */
export class ProtobufError extends Error {
  override name = 'ProtobufError';
}

/**
 * Decodes a list page. Only the annotations `annotation` says yes to are kept (a pass reads two of
 * them; others, such as kubectl's last-applied-configuration, can be large).
 */
export function decodeMetadataList(
  body: Buffer,
  annotation: (key: string) => boolean,
): MetadataPage {
  if (body.length < magic.length || magic.some((b, i) => body[i] !== b))
    throw new ProtobufError('not a Kubernetes protobuf body');
  const list = field(new Reader(body, magic.length, body.length), 2);
  if (!list) throw new ProtobufError('no object in the protobuf body');
  const page: MetadataPage = { items: [], metadata: {} };
  for (const r = list; r.more();) {
    const key = r.key();
    if (key === delimited(1)) {
      const token = listContinue(r.nested());
      if (token) page.metadata.continue = token;
    } else if (key === delimited(2)) {
      page.items.push(item(r.nested(), annotation));
    } else r.skip(key);
  }
  return page;
}

function listContinue(r: Reader): string | undefined {
  let token: string | undefined;
  while (r.more()) {
    const key = r.key();
    if (key === delimited(3)) token = r.string();
    else r.skip(key);
  }
  return token;
}

function item(r: Reader, annotation: (key: string) => boolean): MetadataItem {
  const meta = field(r, 1);
  const out: MetadataItem = { metadata: {} };
  if (!meta) return out;
  const m = out.metadata;
  while (meta.more()) {
    const key = meta.key();
    if (key === delimited(1)) m.name = meta.string();
    else if (key === delimited(3)) m.namespace = meta.string();
    else if (key === delimited(5)) m.uid = meta.string();
    else if (key === delimited(6)) m.resourceVersion = meta.string();
    else if (key === delimited(12)) {
      const [name, value] = mapEntry(meta.nested(), annotation);
      if (name !== undefined && value !== undefined) (m.annotations ??= {})[name] = value;
    } else meta.skip(key);
  }
  return out;
}

/** One entry of a map<string, string>: its value only when its key is wanted. */
function mapEntry(
  r: Reader,
  wanted: (key: string) => boolean,
): [string | undefined, string | undefined] {
  let name: string | undefined;
  let value: [number, number] | undefined;
  while (r.more()) {
    const key = r.key();
    if (key === delimited(1)) name = r.string();
    else if (key === delimited(2)) value = r.span();
    else r.skip(key);
  }
  if (name === undefined || !wanted(name)) return [undefined, undefined];
  return [name, value ? r.text(value[0], value[1]) : ''];
}

/** The first field `number` (length-delimited) of a message, as a reader of its bytes. */
function field(r: Reader, number: number): Reader | undefined {
  while (r.more()) {
    const key = r.key();
    if (key === delimited(number)) return r.nested();
    r.skip(key);
  }
  return undefined;
}

const varint = 0;
const fixed64 = 1;
const lengthDelimited = 2;
const fixed32 = 5;

/** The key of a length-delimited field (a string, bytes or a message). */
const delimited = (number: number): number => number * 8 + lengthDelimited;

/** A cursor over the bytes [at, end) of a message. */
class Reader {
  constructor(
    private readonly buf: Buffer,
    private at: number,
    private readonly end: number,
  ) {}

  more(): boolean {
    return this.at < this.end;
  }

  /** The next field's key: its number times 8, plus its wire type (see `number`, `wireType`). */
  key(): number {
    return this.varint();
  }

  varint(): number {
    // Most are one byte: field keys, and the lengths of names, uids and versions.
    const first = this.at < this.end ? (this.buf[this.at] ?? 0x80) : 0x80;
    if (first < 0x80) {
      this.at++;
      return first;
    }
    let value = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (this.at >= this.end) throw new ProtobufError('truncated varint');
      const b = this.buf[this.at++] ?? 0;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    throw new ProtobufError('varint too long');
  }

  /** The bytes of a length-delimited field, as [start, end), the cursor moved past them. */
  span(): [number, number] {
    const length = this.varint();
    const start = this.at;
    if (start + length > this.end) throw new ProtobufError('truncated field');
    this.at += length;
    return [start, this.at];
  }

  nested(): Reader {
    const [start, end] = this.span();
    return new Reader(this.buf, start, end);
  }

  string(): string {
    const [start, end] = this.span();
    return this.text(start, end);
  }

  text(start: number, end: number): string {
    return this.buf.toString('utf8', start, end);
  }

  /** Moves past the value of the field whose key was just read. */
  skip(key: number): void {
    const type = key & 7;
    if (type === varint) this.varint();
    else if (type === lengthDelimited) this.span();
    else if (type === fixed64) this.advance(8);
    else if (type === fixed32) this.advance(4);
    else throw new ProtobufError(`unsupported wire type ${type}`);
  }

  private advance(n: number): void {
    if (this.at + n > this.end) throw new ProtobufError('truncated field');
    this.at += n;
  }
}
