/* Bloom filters for segment files: an array of 64-byte blocks; half of a key's XXH64 picks one block
 * and the other half k bits inside it, so a lookup touches one cache line. The bit layout and hash are
 * part of the segment format; docs/formats.md ("Bloom filter region") describes them bit by bit.
 *
 * Threads: every function is pure or works on memory the caller owns; safe from any thread. */
#ifndef FLOE_BLOOM_H
#define FLOE_BLOOM_H

#include <stddef.h>
#include <stdint.h>

/* Largest bits_per_key a writer may ask for; larger values are clamped. */
#define BLOOM_MAX_BITS_PER_KEY 32
/* Probe counts outside 1..BLOOM_MAX_PROBES make a stored filter invalid. */
#define BLOOM_MAX_PROBES 30

/* XXH64 of key with seed 0 (the published xxHash 64-bit algorithm). */
uint64_t bloom_hash(const void *key, size_t len);

/* A parsed filter region. bits points into the region given to bloom_parse (borrowed). */
typedef struct bloom_filter {
    const uint8_t *bits;
    uint64_t bits_count; /* number of bits: 8 * bytes of the bit array */
    unsigned probes;
} bloom_filter;

/* Size in bytes of the region bloom_build writes for n_keys keys at bits_per_key. */
size_t bloom_region_bytes(uint64_t n_keys, unsigned bits_per_key);

/* Writes the filter region for n hashes (from bloom_hash) into region, which must be
 * bloom_region_bytes(n, bits_per_key) bytes. bits_per_key 0 means 10. */
void bloom_build(const uint64_t *hashes, size_t n, unsigned bits_per_key, uint8_t *region, size_t region_len);

/* Parses a stored region (64-byte blocks, then one byte: the probe count). Returns 0, or -1 if the
 * bit array is not a whole, non-zero number of blocks or the probe count is outside
 * 1..BLOOM_MAX_PROBES. *out borrows region. */
int bloom_parse(const uint8_t *region, size_t len, bloom_filter *out);

/* 0 if the key with this hash is certainly absent, 1 if it may be present. */
int bloom_may_contain(const bloom_filter *f, uint64_t hash);

#endif
