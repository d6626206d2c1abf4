// A read-only map seen through a layer of changes that are not in it yet: the committed stock
// table (or request id index) plus what earlier jobs of the same commit planned, so planCommit
// can plan job after job against the state the earlier ones leave, without copying the table
// and without touching it (lookups read it meanwhile). Writes go to the layer only.

export class LayeredMap<K, V> implements ReadonlyMap<K, V> {
  private readonly base: ReadonlyMap<K, V>;
  private readonly layer = new Map<K, V>();

  constructor(base: ReadonlyMap<K, V>) {
    this.base = base;
  }

  /** The changes on top of the base, in the order they were first made. */
  get changes(): ReadonlyMap<K, V> {
    return this.layer;
  }

  set(key: K, value: V): void {
    this.layer.set(key, value);
  }

  get(key: K): V | undefined {
    return this.layer.has(key) ? this.layer.get(key) : this.base.get(key);
  }

  has(key: K): boolean {
    return this.layer.has(key) || this.base.has(key);
  }

  get size(): number {
    let size = this.base.size;
    for (const key of this.layer.keys()) if (!this.base.has(key)) size++;
    return size;
  }

  /** The base's entries in its order (changed values in place), then keys only the layer has. */
  *entries(): MapIterator<[K, V]> {
    for (const [key, value] of this.base) yield [key, this.layer.has(key) ? (this.layer.get(key) as V) : value];
    for (const [key, value] of this.layer) if (!this.base.has(key)) yield [key, value];
  }

  *keys(): MapIterator<K> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): MapIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  forEach(callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void): void {
    for (const [key, value] of this.entries()) callback(value, key, this);
  }
}
