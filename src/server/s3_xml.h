/* The XML of the S3 API on the server side: the escaping of text floe writes into its answers, and
 * the parsers of the bodies clients send (CompleteMultipartUpload, DeleteObjects, CreateBucket),
 * on xml.c's bounded reader (so a DOCTYPE is refused and depth, path and text are capped).
 *
 * The parsers follow S3's schema for the elements they read: the root must be the operation's,
 * with or without its xmlns attribute; elements they do not know (newer SDKs' additions) are
 * skipped; an element that must be there and is not, or one given twice, is MalformedXML, as is a
 * body that is not XML. Text is taken as XML gives it (entities decoded, line ends normalised);
 * numbers, booleans, ETags and checksums may have whitespace around them, keys never lose any.
 *
 * On failure a parser returns -1, points *code at S3's error code (a static string) and writes a
 * message for the <Message> element into msg (msg_cap bytes, NUL-terminated, cut to fit; nothing
 * if msg_cap is 0): the S3 wording, then what was wrong and where, which may quote the body's
 * text (escape it with s3_xml_escape for the answer). "InternalError" means memory ran
 * out, not the client's fault. The parser's outputs are then untouched.
 *
 * Threads: every function works only on what it is given; call them from any thread. */
#ifndef FLOE_S3_XML_H
#define FLOE_S3_XML_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "s3_checksum.h"

#define S3_XML_MAX_PARTS S3_CHECKSUM_MAX_PARTS /* 10000 */
#define S3_XML_MAX_DELETE_OBJECTS 1000
#define S3_XML_MAX_KEY_BYTES 1024
/* An ETag as sent, quotes stripped, with its NUL: 32 hex digits, or "-<parts>" after them, fit. */
#define S3_XML_ETAG_MAX 72
/* Room for the longest LocationConstraint read, with its NUL: AWS's region names are under 20. */
#define S3_XML_LOCATION_MAX 64

/* Appends n bytes of s to b as XML text or attribute content, as S3 writes keys:
 *   & < > " ' as &amp; &lt; &gt; &quot; &apos;;
 *   every C0 control byte (0x00 to 0x1f, tab and line ends too, so they survive a parser's
 *   normalisation) as a hexadecimal character reference, "&#x1b;". For the bytes XML 1.0 excludes
 *   (all but tab, LF and CR) that is what S3 answers too, and it is not well-formed XML: clients
 *   read such keys only with encoding-type=url;
 *   bytes that are not UTF-8 (a bad or overlong sequence, a surrogate, past U+10FFFF), and the
 *   noncharacters U+FFFE and U+FFFF, which XML cannot carry, as U+FFFD, one per bad byte or
 *   character: replaced, never refused, so the answer is still produced.
 * Everything else is copied. Failure is b's (its cap or memory): sticky in b->failed, as buf.h says. */
void s3_xml_escape(buf_t *b, const char *s, size_t n);

/* One part of a CompleteMultipartUpload body. */
typedef struct s3_complete_part {
    uint32_t part_number;       /* 1 to S3_XML_MAX_PARTS */
    char etag[S3_XML_ETAG_MAX]; /* as sent, without one pair of enclosing quotes; may be "" */
    /* checksum[a]: "" if the part has no Checksum<ALGO> element, else its value, checked to be
     * the strict base64 (s3_base64_decode) of a digest of algorithm a's length */
    char checksum[S3_CK_COUNT][S3_CHECKSUM_B64_MAX];
} s3_complete_part;

/* Parses a CompleteMultipartUpload body:
 *   <CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"..."</ETag>
 *   [<ChecksumCRC32>..</ChecksumCRC32> ...]</Part>...</CompleteMultipartUpload>
 * On success *parts (malloc'd, the caller frees it) holds the *n_parts (1 to S3_XML_MAX_PARTS) parts
 * in the order sent: their order and uniqueness are the caller's to check (InvalidPartOrder).
 * Errors: MalformedXML (not XML, another root, no Part, more than S3_XML_MAX_PARTS, a Part without
 * PartNumber or ETag or with one twice, a PartNumber that is not an integer); InvalidArgument (a
 * PartNumber outside 1 to 10000; a checksum that is not the base64 of a digest of its length);
 * InvalidPart (an ETag of S3_XML_ETAG_MAX bytes or more, which cannot name a part); InternalError. */
int s3_xml_parse_complete(const void *body, size_t len, s3_complete_part **parts, size_t *n_parts,
                          const char **code, char *msg, size_t msg_cap);

/* A DeleteObjects body. keys[i] (key_lens[i] bytes, NUL-terminated after them) is the i-th
 * <Key> as sent, which may be empty (S3 reports that one in the DeleteResult, not the request);
 * version_ids[i] is its <VersionId>, or NULL if it has none. All owned by the request. */
typedef struct s3_delete_request {
    int quiet; /* 1 if <Quiet> was true */
    size_t n;  /* 1 to S3_XML_MAX_DELETE_OBJECTS */
    char **keys;
    size_t *key_lens;
    char **version_ids;
} s3_delete_request;

/* Parses a DeleteObjects body:
 *   <Delete><Quiet>true</Quiet><Object><Key>k</Key><VersionId>..</VersionId></Object>...</Delete>
 * Quiet is optional: true, false, 1 or 0. Errors: MalformedXML (not XML, another root, no Object,
 * more than S3_XML_MAX_DELETE_OBJECTS, an Object without Key, Key, VersionId or Quiet twice, a Quiet
 * that is not a boolean); KeyTooLongError (a key over S3_XML_MAX_KEY_BYTES); InternalError.
 * On success the caller frees *out with s3_delete_request_free. */
int s3_xml_parse_delete(const void *body, size_t len, s3_delete_request *out, const char **code, char *msg,
                        size_t msg_cap);

/* Frees what r owns and leaves it empty; safe on a zeroed or already freed request. */
void s3_delete_request_free(s3_delete_request *r);

/* Parses a CreateBucket body, which may be empty (or only whitespace):
 *   <CreateBucketConfiguration><LocationConstraint>region</LocationConstraint></CreateBucketConfiguration>
 * location (cap bytes, cap at least 1) gets the region, NUL-terminated: "" if the body is empty or has no or
 * an empty LocationConstraint (S3's us-east-1). Whether floe serves that region is the caller's question.
 * Errors: MalformedXML (not XML, another root, LocationConstraint twice); InvalidLocationConstraint (a region
 * of cap or S3_XML_LOCATION_MAX bytes or more). */
int s3_xml_parse_create_bucket(const void *body, size_t len, char *location, size_t cap, const char **code,
                               char *msg, size_t msg_cap);

#endif
