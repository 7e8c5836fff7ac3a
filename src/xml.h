/* A small streaming reader for the XML documents S3 answers with (list results, multipart upload
 * ids, errors), on expat. It reports each element's path and text as the element ends, so callers
 * match whole paths ("ListBucketResult/Contents/Key") instead of searching strings.
 *
 * Threads: xml_parse keeps all state on its stack; call it from any thread. */
#ifndef FLOE_XML_H
#define FLOE_XML_H

#include <stddef.h>

/* Limits that bound what a hostile document can make the parser hold. */
#define XML_MAX_DEPTH 16
#define XML_MAX_PATH_BYTES 512
#define XML_MAX_TEXT_BYTES (64 * 1024)

/* Called when an element ends. path names the element and its ancestors from the root, joined by
 * '/'. text is the character data directly inside the element since its last child ended (for a
 * leaf, its whole text, entities decoded), NUL-terminated, text_len bytes; both are valid only
 * during the call. Return 0 to go on; any other value stops the parse and xml_parse returns it. */
typedef int (*xml_element_fn)(void *ctx, const char *path, const char *text, size_t text_len);

/* Parses len bytes at data, calling fn for every element. what names the document in error
 * messages (e.g. the URL it came from). Returns 0, fn's non-zero value, or FLOE_ECORRUPT with a
 * message naming what, the line and the problem: malformed XML, a DOCTYPE (refused, so entity
 * expansion cannot be abused), nesting deeper than XML_MAX_DEPTH, a path longer than
 * XML_MAX_PATH_BYTES or text longer than XML_MAX_TEXT_BYTES. FLOE_ENOMEM if expat cannot allocate. */
int xml_parse(const void *data, size_t len, const char *what, xml_element_fn fn, void *ctx);

#endif
