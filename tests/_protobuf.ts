/**
 * The protobuf wire format, as much of it as the KV Connect fixture needs: varint
 * and length-delimited fields, read and written by hand. A reader meets a field
 * one at a time and the caller says what it is; anything unexpected throws.
 *
 * @module
 */

/** A message that does not follow the wire format, or holds what the reader does not take. */
export class WireError extends SyntaxError {
  /** @param message What was wrong, and where. */
  constructor(message: string) {
    super(message);
    this.name = "WireError";
  }
}

/** Wire type 0: a varint. */
export const VARINT = 0;
/** Wire type 2: length-delimited bytes (bytes, strings, messages, packed repeats). */
export const LENGTH_DELIMITED = 2;

/** One field's tag, as read. */
export interface FieldTag {
  field: number;
  wire: number;
}

/**
 * Reads one message's fields in order.
 *
 * @example Reading a varint and a bytes field
 * ```ts
 * import { WireReader, WireWriter } from "./_protobuf.ts";
 *
 * const bytes = new WireWriter().varint(3, 150).bytes(1, new Uint8Array([7])).finish();
 * const reader = new WireReader(bytes, "Example");
 * const tag = reader.next()!;
 * if (tag.field !== 3 || reader.uint(tag) !== 150) throw new Error("varint");
 * if (reader.bytes(reader.next()!)[0] !== 7 || reader.next() !== null) throw new Error("bytes");
 * ```
 */
export class WireReader {
  readonly #bytes: Uint8Array<ArrayBuffer>;
  readonly #message: string;
  #at = 0;

  /**
   * @param bytes The encoded message.
   * @param message Its type's name, for error messages.
   */
  constructor(bytes: Uint8Array<ArrayBuffer>, message: string) {
    this.#bytes = bytes;
    this.#message = message;
  }

  /**
   * The next field's tag, or null at the end of the message.
   *
   * @returns The field number and wire type.
   * @throws {WireError} If the tag is malformed.
   */
  next(): FieldTag | null {
    if (this.#at === this.#bytes.length) return null;
    const tag = this.#varint();
    const field = Number(tag >> 3n);
    if (field === 0 || field > 536_870_911) throw this.#error(`field number ${field}`);
    return { field, wire: Number(tag & 7n) };
  }

  /**
   * A varint field as an unsigned 64-bit integer.
   *
   * @param tag The field's tag.
   * @returns Its value.
   */
  uint64(tag: FieldTag): bigint {
    this.#expect(tag, VARINT);
    return this.#varint();
  }

  /**
   * A varint field that must be a safe non-negative integer (`uint32`, an enum, a length).
   *
   * @param tag The field's tag.
   * @returns Its value.
   */
  uint(tag: FieldTag): number {
    const value = this.uint64(tag);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw this.#error(`field ${tag.field} is ${value}, out of range`);
    }
    return Number(value);
  }

  /**
   * A signed varint field (`int32`, `int64`), two's complement over 64 bits.
   *
   * @param tag The field's tag.
   * @returns Its value.
   */
  int64(tag: FieldTag): bigint {
    return BigInt.asIntN(64, this.uint64(tag));
  }

  /**
   * A `bool` field.
   *
   * @param tag The field's tag.
   * @returns Its value.
   */
  bool(tag: FieldTag): boolean {
    const value = this.uint64(tag);
    if (value > 1n) throw this.#error(`field ${tag.field} is ${value}, not a bool`);
    return value === 1n;
  }

  /**
   * A length-delimited field: `bytes`, or an embedded message to read with a new reader.
   *
   * @param tag The field's tag.
   * @returns Its bytes (a view, not a copy).
   */
  bytes(tag: FieldTag): Uint8Array<ArrayBuffer> {
    this.#expect(tag, LENGTH_DELIMITED);
    const length = this.#varint();
    if (length > BigInt(this.#bytes.length - this.#at)) {
      throw this.#error(`field ${tag.field} runs past the end`);
    }
    const start = this.#at;
    this.#at += Number(length);
    return this.#bytes.subarray(start, this.#at);
  }

  /**
   * A field this reader does not take, as an error to throw.
   *
   * @param tag The field's tag.
   * @returns The error.
   */
  unknown(tag: FieldTag): WireError {
    return this.#error(`field ${tag.field} (wire type ${tag.wire}) is not implemented`);
  }

  #expect(tag: FieldTag, wire: number): void {
    if (tag.wire !== wire) {
      throw this.#error(`field ${tag.field} has wire type ${tag.wire}, expected ${wire}`);
    }
  }

  #varint(): bigint {
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.#at === this.#bytes.length) throw this.#error("a varint runs past the end");
      const byte = this.#bytes[this.#at++]!;
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) {
        if (value >= 1n << 64n) throw this.#error("a varint is longer than 64 bits");
        return value;
      }
    }
    throw this.#error("a varint is longer than 10 bytes");
  }

  #error(what: string): WireError {
    return new WireError(`Cannot read ${this.#message}: ${what}`);
  }
}

/**
 * Writes one message's fields; proto3 defaults (0, false, empty) are left out, as
 * protobuf encoders do.
 *
 * @example Writing an embedded message
 * ```ts
 * import { WireWriter } from "./_protobuf.ts";
 *
 * const inner = new WireWriter().bool(1, true);
 * const bytes = new WireWriter().message(2, inner).varint(3, 0).finish();
 * if (bytes.join() !== [0x12, 2, 0x08, 1].join()) throw new Error(bytes.join());
 * ```
 */
export class WireWriter {
  readonly #chunks: Uint8Array[] = [];
  #length = 0;

  /**
   * A varint field (`uint32`, `int32` ≥ 0, an enum); left out when 0.
   *
   * @param field The field number.
   * @param value A non-negative safe integer.
   * @returns This writer.
   */
  varint(field: number, value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`Cannot write ${value} as a varint`);
    }
    if (value === 0) return this;
    this.#tag(field, VARINT);
    this.#varint(value);
    return this;
  }

  /**
   * A `bool` field; left out when false.
   *
   * @param field The field number.
   * @param value The value.
   * @returns This writer.
   */
  bool(field: number, value: boolean): this {
    return this.varint(field, value ? 1 : 0);
  }

  /**
   * A `bytes` field; left out when empty. The bytes are copied only by `finish()`.
   *
   * @param field The field number.
   * @param value The bytes.
   * @returns This writer.
   */
  bytes(field: number, value: Uint8Array): this {
    if (value.length === 0) return this;
    this.#tag(field, LENGTH_DELIMITED);
    this.#varint(value.length);
    this.#push(value);
    return this;
  }

  /**
   * An embedded message field, written even when empty (an element of a repeated field).
   *
   * @param field The field number.
   * @param message The embedded message.
   * @returns This writer.
   */
  message(field: number, message: WireWriter): this {
    this.#tag(field, LENGTH_DELIMITED);
    this.#varint(message.#length);
    for (const chunk of message.#chunks) this.#push(chunk);
    return this;
  }

  /**
   * The encoded message.
   *
   * @returns Its bytes.
   */
  finish(): Uint8Array<ArrayBuffer> {
    const bytes = new Uint8Array(this.#length);
    let at = 0;
    for (const chunk of this.#chunks) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    return bytes;
  }

  #tag(field: number, wire: number): void {
    this.#varint(field * 8 + wire);
  }

  #varint(value: number): void {
    const bytes: number[] = [];
    while (value >= 0x80) {
      bytes.push((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
    }
    bytes.push(value);
    this.#push(Uint8Array.from(bytes));
  }

  #push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }
}
