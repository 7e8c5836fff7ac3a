/* Integer coding shared by the on-disk formats (WAL records, segment files, bloom filters):
 * fixed-width little-endian integers and LEB128 varints (docs/formats.md); and the value of a hex
 * digit, which every parser of hex text (manifests, URLs, signatures, ETags) shares. */
#ifndef FLOE_CODING_H
#define FLOE_CODING_H

#include <stddef.h>
#include <stdint.h>

/* The value of the hex digit c (either case), or -1 if it is not one. */
static inline int hex_digit_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static inline void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get_le64(const uint8_t *p)
{
    return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* The most bytes a LEB128 varint of a uint64_t takes. */
#define VARINT64_MAX_BYTES 10

/* Writes v as a LEB128 varint (7 bits a byte, low group first, high bit set on all but the last)
 * at p, which must have VARINT64_MAX_BYTES free; returns the byte after it. */
static inline uint8_t *put_varint64(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Reads a LEB128 varint of at most max_bits bits (up to 64) from p, not reading at or past end.
 * Returns the byte after it and sets *v, or returns NULL (leaving *v alone) if it runs past end or
 * holds more than max_bits bits. */
static inline const uint8_t *get_varint(const uint8_t *p, const uint8_t *end, unsigned max_bits, uint64_t *v)
{
    uint64_t result = 0;
    for (unsigned shift = 0; shift < max_bits && p < end; shift += 7) {
        uint64_t b = *p++;
        if (max_bits - shift < 7 && (b & 0x7f) >> (max_bits - shift))
            return NULL;
        result |= (b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = result;
            return p;
        }
    }
    return NULL;
}

#endif
