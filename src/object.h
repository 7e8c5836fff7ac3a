/* Objects written with floe_writer_*: the object record a head entry (ENTRY_OBJECT) holds, and the
 * reserved keys under which a large object's chunks and its reference live (docs/formats.md,
 * "Object records"; docs/architecture.md, "Large objects").
 *
 * An object record is the value of an ENTRY_OBJECT entry:
 *
 *   u8  format (1)   u8 flags (OBJREC_CHUNKED)   u16 user_meta_len   u64 size   md5[16]
 *   if chunked: u32 chunk_bytes   objid[16]
 *   user_meta[user_meta_len]
 *   if not chunked: the object's size bytes
 *
 * all little-endian. The entry's content type is the object's. A chunked object's bytes are the
 * values of its chunk keys, chunk i holding bytes [i * chunk_bytes, (i + 1) * chunk_bytes).
 *
 * Reserved keys begin with FLOE_RESERVED_PREFIX_BYTES bytes 0xff, then a kind byte:
 *   'c' objid[16]               a chunked object's reference (object.c note 2)
 *   'c' objid[16] u64be(index)  its chunk index
 * They sort after every key a user can write, so a list stops at the first one; an object's
 * reference sorts right before its chunks, so its keys are one contiguous range (object.c note 5).
 */
#ifndef FLOE_OBJECT_H
#define FLOE_OBJECT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "floe.h"

#define OBJREC_FORMAT 1
/* Format 2 is format 1 with up to FLOE_MAX_USER_META_BYTES of user metadata (format 1: at most
 * OBJREC_FORMAT1_MAX_META_BYTES); a record is written as format 1 whenever its metadata fits. */
#define OBJREC_FORMAT_LARGE_META 2
#define OBJREC_FORMAT1_MAX_META_BYTES 2048
#define OBJREC_CHUNKED 0x01
#define OBJREC_FIXED_BYTES 28
#define OBJREC_CHUNK_FIELDS_BYTES 20
/* The longest header: what precedes an inline object's bytes. */
#define OBJREC_MAX_HEADER_BYTES (OBJREC_FIXED_BYTES + OBJREC_CHUNK_FIELDS_BYTES + FLOE_MAX_USER_META_BYTES)
#define OBJID_BYTES 16

#define RESERVED_KIND_CHUNK 'c'
#define CHUNK_KEY_BYTES (FLOE_RESERVED_PREFIX_BYTES + 1 + OBJID_BYTES + 8)
/* The reference is the chunk keys' common prefix, so one prefix delete of it deletes all. */
#define REF_KEY_BYTES (FLOE_RESERVED_PREFIX_BYTES + 1 + OBJID_BYTES)
#define CHUNK_PREFIX_BYTES REF_KEY_BYTES

/* A parsed object record; pointers into the record's bytes. */
typedef struct objrec {
    uint8_t flags;
    uint64_t size;
    uint8_t md5[16];
    uint32_t chunk_bytes;       /* chunked only */
    uint8_t objid[OBJID_BYTES]; /* chunked only */
    const uint8_t *user_meta;
    uint16_t user_meta_len;
    uint32_t header_len; /* bytes before an inline object's data */
} objrec;

/* 1 if key is one of floe's reserved keys (FLOE_RESERVED_PREFIX_BYTES leading 0xff bytes). */
static inline int key_is_reserved(const void *key, size_t key_len)
{
    static const uint8_t ff[FLOE_RESERVED_PREFIX_BYTES] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    return key_len >= FLOE_RESERVED_PREFIX_BYTES && memcmp(key, ff, FLOE_RESERVED_PREFIX_BYTES) == 0;
}

/* 1 if key lies in the system namespace (FLOE_SYSTEM_PREFIX), which callers may use. */
static inline int key_is_system(const void *key, size_t key_len)
{
    return key_len >= FLOE_SYSTEM_PREFIX_BYTES && memcmp(key, FLOE_SYSTEM_PREFIX, FLOE_SYSTEM_PREFIX_BYTES) == 0;
}

/* 1 if a user's prefix (a prefix delete's, a retention rule's) may apply to key: never to a
 * reserved key unless the prefix is reserved itself, so deleting or expiring "\xff" cannot touch
 * the chunks of live objects. */
static inline int prefix_may_apply(const void *prefix, size_t prefix_len, const void *key, size_t key_len)
{
    return !key_is_reserved(key, key_len) || key_is_reserved(prefix, prefix_len);
}

/* Parses the header of an object record from its first len bytes (a copy of the header alone will
 * do). Returns 0 or FLOE_ECORRUPT naming what is wrong. */
int objrec_parse(const uint8_t *p, size_t len, objrec *out);

/* objrec_parse of a whole record (an entry's value): also checks that what follows the header is
 * exactly the object's bytes (inline) or nothing (chunked). */
int objrec_parse_whole(const uint8_t *p, size_t len, objrec *out);

/* Writes the header of rec (its user_meta included) to out, which has OBJREC_MAX_HEADER_BYTES;
 * returns its length. */
size_t objrec_encode_header(const objrec *rec, uint8_t *out);

void chunk_key(uint8_t out[CHUNK_KEY_BYTES], const uint8_t objid[OBJID_BYTES], uint64_t index);
void ref_key(uint8_t out[REF_KEY_BYTES], const uint8_t objid[OBJID_BYTES]);

#endif
