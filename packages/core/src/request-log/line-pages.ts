const PAGE_BYTES = 64 * 1024;

/**
 * Copies lines of text, as UTF-8, into shared 64 KB pages outside the JavaScript heap. A queued API-log row then
 * costs the garbage collector one small view instead of a string of several hundred bytes that survives young
 * collections (rows wait up to a flush interval) and is copied and promoted on the way. A page is freed once no
 * queued row refers to it.
 */
export class LinePages {
  #page = Buffer.allocUnsafeSlow(PAGE_BYTES);
  #offset = 0;

  copy(line: string): Buffer {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    const most = line.length * 3;
    if (most > PAGE_BYTES) return Buffer.from(line, 'utf8');
    if (this.#offset + most > PAGE_BYTES) {
      this.#page = Buffer.allocUnsafeSlow(PAGE_BYTES);
      this.#offset = 0;
    }
    const written = this.#page.write(line, this.#offset, 'utf8');
    const view = this.#page.subarray(this.#offset, this.#offset + written);
    this.#offset += written;
    return view;
  }
}
