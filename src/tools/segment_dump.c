/* floe segment dump PATH: prints a segment file's footer, metadata, bloom filter, index and every
 * entry, and reports each CRC mismatch with its block and byte offset. The dump itself is
 * segment_dump in src/segment.c: it reads the file with the reader's own parsers of the format
 * (docs/formats.md, "Segment files"), which stay private to that file. */
#include "tools.h"

#include <stdio.h>
#include <string.h>

#include "floe.h"
#include "segment.h"

int tools_cmd_segment(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "dump") != 0) {
        fprintf(stderr, "usage: floe segment dump PATH\n");
        return 2;
    }
    int rc = segment_dump(argv[2], stdout);
    if (rc < 0) {
        fflush(stdout);
        fprintf(stderr, "floe segment dump: %s: %s\n", floe_strerror(rc), floe_last_error());
        return 1;
    }
    return 0;
}
