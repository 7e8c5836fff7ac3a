/* The pending segment: an in-memory sorted run of (key, seq) -> value, a skip list in an arena.
 * Ordered by key ascending, then seq descending, so the first entry for a key at or below a read's
 * sequence number is the version it sees. Many versions of one key may be present.
 *
 * Threads: one writer at a time (the caller serialises memtable_add); any number of readers run
 * concurrently with it and with each other without locks (entries are published with release
 * stores and never change after). The memtable is reference counted: hold a reference while
 * reading or iterating. */
#ifndef FLOE_MEMTABLE_H
#define FLOE_MEMTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "entry.h"

typedef struct memtable memtable_t;

/* Creates an empty memtable with one reference. */
int memtable_create(memtable_t **out);
void memtable_ref(memtable_t *m);
/* Drops a reference; the last one frees every entry. NULL is a no-op. */
void memtable_unref(memtable_t *m);

/* Copies the entry into the memtable's arena and links it in. Errors: FLOE_ENOMEM. */
int memtable_add(memtable_t *m, const entry *e);

/* Finds the newest version of key with seq <= max_seq. Returns 1 and fills *out (pointers into the
 * memtable) if found (the entry may be a DELETE), 0 if the memtable has no such version. */
int memtable_get(memtable_t *m, const void *key, size_t key_len, uint64_t max_seq, entry *out);

/* Bytes of entries added (keys, values, content types and per-entry overhead) and entry count. */
uint64_t memtable_bytes(const memtable_t *m);
uint64_t memtable_count(const memtable_t *m);
/* Smallest and largest seq added; 0 when empty. */
uint64_t memtable_min_seq(const memtable_t *m);
uint64_t memtable_max_seq(const memtable_t *m);

/* An iterator over every version in (key asc, seq desc) order. Holds a reference on the memtable.
 * Entries added after the iterator was created may or may not be seen. Use from one thread. */
typedef struct memtable_iter memtable_iter;
int memtable_iter_create(memtable_t *m, memtable_iter **out);
void memtable_iter_destroy(memtable_iter *it);
/* Positions at the first version whose key is >= key (key NULL: the first entry). */
void memtable_iter_seek(memtable_iter *it, const void *key, size_t key_len);
int memtable_iter_valid(const memtable_iter *it);
void memtable_iter_next(memtable_iter *it);
/* The current entry; pointers live as long as the memtable. */
void memtable_iter_entry(const memtable_iter *it, entry *out);

#endif
