/* The checksums S3 clients send with objects and parts (x-amz-checksum-*): CRC32, CRC32C,
 * CRC64NVME, SHA-1 and SHA-256, computed incrementally and given in S3's base64 form; the two ways
 * a multipart upload's checksum is made from its parts' (COMPOSITE "<b64>-N" and FULL_OBJECT); and
 * the strict base64 codec behind them, which Content-MD5 uses too.
 *
 * Threads: every function is pure or works only on the s3_checksum it is given; an s3_checksum
 * belongs to one thread at a time. */
#ifndef FLOE_S3_CHECKSUM_H
#define FLOE_S3_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

typedef struct evp_md_ctx_st EVP_MD_CTX;

enum s3_checksum_algo { S3_CK_CRC32, S3_CK_CRC32C, S3_CK_CRC64NVME, S3_CK_SHA1, S3_CK_SHA256, S3_CK_COUNT };

/* Bytes of base64 text for n bytes of data, without a NUL. */
#define S3_BASE64_LEN(n) ((((size_t)(n) + 2) / 3) * 4)
/* The longest raw digest (SHA-256) and room for any algorithm's base64 digest with its NUL. */
#define S3_CHECKSUM_MAX_BYTES 32
#define S3_CHECKSUM_B64_MAX (S3_BASE64_LEN(S3_CHECKSUM_MAX_BYTES) + 1)
/* Room for a composite value "<b64>-N" with N up to S3_CHECKSUM_MAX_PARTS, and its NUL. */
#define S3_CHECKSUM_MAX_PARTS 10000
#define S3_CHECKSUM_COMPOSITE_MAX (S3_CHECKSUM_B64_MAX + 6)

/* The name as in x-amz-checksum-algorithm and x-amz-sdk-checksum-algorithm ("CRC32", "CRC32C",
 * "CRC64NVME", "SHA1", "SHA256"); the lower-case header that carries the value
 * ("x-amz-checksum-crc32", ...); the element of a CompleteMultipartUpload part or a listing
 * ("ChecksumCRC32", ...). Static strings; NULL for a value outside the enum. */
const char *s3_checksum_name(enum s3_checksum_algo a);
const char *s3_checksum_header(enum s3_checksum_algo a);
const char *s3_checksum_element(enum s3_checksum_algo a);

/* The raw digest's length in bytes (4, 4, 8, 20, 32); 0 for a value outside the enum. */
size_t s3_checksum_digest_bytes(enum s3_checksum_algo a);

/* The algorithm of name (without regard to case: "CRC32", "crc32") or of a header name (the
 * caller lower-cases it; case is ignored anyway). 0 and *out set, or -1 (unknown; *out untouched). */
int s3_checksum_from_name(const char *name, enum s3_checksum_algo *out);
int s3_checksum_from_header(const char *lower_header, enum s3_checksum_algo *out);

/* A checksum being computed. The fields are the implementation's: use the functions. */
typedef struct s3_checksum {
    enum s3_checksum_algo algo;
    uint64_t crc;   /* CRC algorithms: the finished CRC of the bytes so far (0 for none) */
    EVP_MD_CTX *md; /* SHA algorithms: OpenSSL's state, owned; NULL otherwise */
} s3_checksum;

/* Starts a checksum of algorithm a over no bytes. Returns 0, FLOE_EINVAL for an a outside the
 * enum, FLOE_ENOMEM (with a message) if OpenSSL cannot allocate; on failure there is nothing to
 * free. Every successful init needs one s3_checksum_free. */
int s3_checksum_init(s3_checksum *c, enum s3_checksum_algo a);

/* Adds n bytes at p. Cannot fail: OpenSSL's digest update over memory does not, for these. */
void s3_checksum_update(s3_checksum *c, const void *p, size_t n);

/* The raw digest of the bytes so far (the CRC big-endian, as S3 does), s3_checksum_digest_bytes
 * long; and the same in base64, NUL-terminated, as S3 sends it. A SHA checksum is finished by
 * this: only s3_checksum_free may follow. A CRC checksum may go on being updated. */
void s3_checksum_final(s3_checksum *c, uint8_t out[S3_CHECKSUM_MAX_BYTES]);
void s3_checksum_final_b64(s3_checksum *c, char out[S3_CHECKSUM_B64_MAX]);

/* Frees the OpenSSL state; c may then be initialised again. Safe on a zeroed s3_checksum. */
void s3_checksum_free(s3_checksum *c);

/* The finished CRC of n bytes at p, extending crc (the finished CRC of the bytes before; 0 to
 * start), for a CRC algorithm; the value is in the low 32 bits for CRC32 and CRC32C. Returns 0 for
 * a SHA algorithm. */
uint64_t s3_crc_extend(enum s3_checksum_algo a, uint64_t crc, const void *p, size_t n);

/* The CRC of A followed by B from crc_a = CRC(A), crc_b = CRC(B) and B's length, without the
 * bytes (a GF(2) polynomial product). Returns 0 for a SHA algorithm. */
uint64_t s3_crc_combine(enum s3_checksum_algo a, uint64_t crc_a, uint64_t crc_b, uint64_t len_b);

/* The checksum of a multipart upload made from its n parts' base64 digests (part_b64[i], each
 * NUL-terminated, in part order), written NUL-terminated to out:
 *   - composite: "<b64 of algo(digest_1 || ... || digest_n)>-<n>", S3's COMPOSITE type, for every
 *     algorithm but CRC64NVME (S3 refuses COMPOSITE for it; this computes it anyway);
 *   - full object: the CRC of the whole object, from the parts' CRCs and their lengths in bytes
 *     (part_len[i]), S3's FULL_OBJECT type, for CRC algorithms only.
 * Returns 0, or -1 (out untouched) if n is 0 or more than S3_CHECKSUM_MAX_PARTS, a part's value is not the
 * strict base64 (s3_base64_decode) of a digest of a's length, or (full object) a is a SHA. */
int s3_checksum_composite_b64(enum s3_checksum_algo a, const char *const *part_b64, size_t n,
                              char out[S3_CHECKSUM_COMPOSITE_MAX]);
int s3_checksum_full_object_b64(enum s3_checksum_algo a, const char *const *part_b64,
                                const uint64_t *part_len, size_t n, char out[S3_CHECKSUM_B64_MAX]);

/* Writes the standard base64 (RFC 4648 section 4, '=' padding) of n bytes at p to out, which holds
 * S3_BASE64_LEN(n) + 1 bytes, NUL-terminated. Returns the length written, without the NUL. */
size_t s3_base64_encode(const void *p, size_t n, char *out);

/* Decodes n characters at s of strict base64: the standard alphabet, length a multiple of 4, '='
 * only as the last one or two characters, no whitespace, and the unused bits of the last group
 * zero (so each value has one spelling, and comparing texts is comparing bytes). Writes up to
 * out_cap bytes at out and their count to *out_len. Returns 0, or -1 for malformed text or a
 * result longer than out_cap (out's contents then unspecified, *out_len untouched). */
int s3_base64_decode(const char *s, size_t n, void *out, size_t out_cap, size_t *out_len);

#endif
