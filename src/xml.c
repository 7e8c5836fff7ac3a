/* Element-path XML reader on expat (see xml.h).
 *
 * Invariants:
 * 1. path always holds the names of the open elements joined by '/', and path_ends[d] is its length
 *    after the element at depth d was opened, so closing an element restores the parent's path.
 * 2. text holds the character data seen since the last element started or ended, never more than
 *    XML_MAX_TEXT_BYTES; exceeding any limit stops the parser with rc set, it never truncates.
 * 3. Once rc is non-zero the parser is stopped and no callback runs again.
 */
#include "xml.h"

#include "buf.h"
#include "error.h"

#include <expat.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct xml_state {
    XML_Parser parser;
    const char *what;
    xml_element_fn fn;
    void *ctx;
    int rc;
    size_t depth;
    char path[XML_MAX_PATH_BYTES + 1];
    size_t path_ends[XML_MAX_DEPTH + 1];
    buf_t text; /* capped at XML_MAX_TEXT_BYTES */
} xml_state;

static void stop(xml_state *st, int rc)
{
    if (st->rc == 0)
        st->rc = rc;
    XML_StopParser(st->parser, XML_FALSE);
}

static void on_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
    xml_state *st = data;
    (void)attrs;
    if (st->rc)
        return;
    if (st->depth >= XML_MAX_DEPTH) {
        stop(st, err_set(FLOE_ECORRUPT, "%s: XML nests deeper than %d elements at line %lu", st->what,
                         XML_MAX_DEPTH, (unsigned long)XML_GetCurrentLineNumber(st->parser)));
        return;
    }
    size_t cur = st->depth ? st->path_ends[st->depth - 1] : 0;
    size_t name_len = strlen(name);
    size_t need = cur + (st->depth ? 1 : 0) + name_len;
    if (need > XML_MAX_PATH_BYTES) {
        stop(st, err_set(FLOE_ECORRUPT, "%s: XML element path longer than %d bytes at line %lu", st->what,
                         XML_MAX_PATH_BYTES, (unsigned long)XML_GetCurrentLineNumber(st->parser)));
        return;
    }
    if (st->depth)
        st->path[cur++] = '/';
    memcpy(st->path + cur, name, name_len);
    st->path[need] = '\0';
    st->path_ends[st->depth++] = need;
    buf_reset(&st->text);
}

static void on_end(void *data, const XML_Char *name)
{
    xml_state *st = data;
    (void)name;
    if (st->rc)
        return;
    int rc = st->fn(st->ctx, st->path, buf_str(&st->text), st->text.len);
    if (rc) {
        stop(st, rc);
        return;
    }
    st->depth--;
    st->path[st->depth ? st->path_ends[st->depth - 1] : 0] = '\0';
    buf_reset(&st->text);
}

static void on_text(void *data, const XML_Char *s, int len)
{
    xml_state *st = data;
    if (st->rc || len <= 0)
        return;
    int rc = buf_append(&st->text, s, (size_t)len);
    if (rc == FLOE_ETOOBIG)
        stop(st, err_set(FLOE_ECORRUPT, "%s: XML text of element %s longer than %d bytes", st->what, st->path,
                         XML_MAX_TEXT_BYTES));
    else if (rc != 0)
        stop(st, err_set(FLOE_ENOMEM, "%s: out of memory parsing XML", st->what));
}

static void on_doctype(void *data, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                       int has_internal_subset)
{
    xml_state *st = data;
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    stop(st, err_set(FLOE_ECORRUPT, "%s: XML with a DOCTYPE is refused", st->what));
}

int xml_parse(const void *data, size_t len, const char *what, xml_element_fn fn, void *ctx)
{
    xml_state st = {.what = what ? what : "XML document", .fn = fn, .ctx = ctx};
    int rc = 0;

    buf_init(&st.text, XML_MAX_TEXT_BYTES);
    if (len > INT_MAX)
        return err_set(FLOE_ECORRUPT, "%s: XML document of %zu bytes is too large", st.what, len);
    st.parser = XML_ParserCreate(NULL);
    if (!st.parser)
        return err_set(FLOE_ENOMEM, "%s: out of memory creating an XML parser", st.what);
    XML_SetUserData(st.parser, &st);
    XML_SetElementHandler(st.parser, on_start, on_end);
    XML_SetCharacterDataHandler(st.parser, on_text);
    XML_SetStartDoctypeDeclHandler(st.parser, on_doctype);
    if (XML_Parse(st.parser, data, (int)len, XML_TRUE) == XML_STATUS_ERROR && st.rc == 0)
        st.rc = err_set(FLOE_ECORRUPT, "%s: bad XML at line %lu: %s", st.what,
                        (unsigned long)XML_GetCurrentLineNumber(st.parser),
                        XML_ErrorString(XML_GetErrorCode(st.parser)));
    rc = st.rc;
    XML_ParserFree(st.parser);
    buf_free(&st.text);
    return rc;
}
