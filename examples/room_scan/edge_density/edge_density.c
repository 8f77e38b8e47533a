/*
 * edge_density: a Rainbow command module, showing how code in any language plugs in.
 *
 * Rainbow writes the step's inputs to stdin as one JSON object, e.g.
 *     {"edges": "/abs/path/edges.pgm"}
 * and reads the outputs, plus any "$metrics", as one JSON object from stdout:
 *     {"density": 0.0421, "$metrics": {"edge_density": {"value": 0.0421, "better": "low"}}}
 * where density is the fraction of non-zero pixels in the binary (P5) PGM edge map.
 *
 * Exit status follows Rainbow's command module protocol: 0 on success; 3 ("permanent, do not
 * retry") when stdin is not a JSON object with a string "edges" or the edge map is not a
 * readable 8-bit binary PGM, since the same input will fail the same way; 1 for failures a retry
 * may cure (out of memory, a broken pipe). Every failure is explained on stderr.
 *
 * Build: cc -O2 -std=c99 -Wall -Wextra -o edge_density edge_density.c
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_TRANSIENT = 1, EXIT_PERMANENT = 3 };

static void fail(int status, const char *format, ...) {
    va_list args;
    va_start(args, format);
    fputs("edge_density: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    exit(status);
}

/* Whether c is one of the characters in set; unlike a bare strchr, a NUL byte never is. */
static int is_one_of(int c, const char *set) {
    return c > 0 && strchr(set, c) != NULL;
}

/* ---- stdin ---------------------------------------------------------------------------- */

static char *read_all(FILE *in, size_t *length) {
    size_t capacity = 4096, used = 0;
    char *buffer = malloc(capacity);
    if (buffer == NULL) fail(EXIT_TRANSIENT, "out of memory reading stdin");
    size_t got;
    while ((got = fread(buffer + used, 1, capacity - used, in)) > 0) {
        used += got;
        if (used == capacity) {
            capacity *= 2;
            char *grown = realloc(buffer, capacity);
            if (grown == NULL) fail(EXIT_TRANSIENT, "out of memory reading stdin");
            buffer = grown;
        }
    }
    if (ferror(in)) fail(EXIT_TRANSIENT, "cannot read stdin: %s", strerror(errno));
    *length = used;
    return buffer;
}

/* ---- a minimal JSON scanner: enough to find one string member of the top-level object ---- */

typedef struct {
    const char *text;
    size_t length;
    size_t at;
} Scanner;

static void malformed(const Scanner *s, const char *what) {
    fail(EXIT_PERMANENT, "malformed JSON on stdin at byte %zu: %s", s->at, what);
}

static int peek(const Scanner *s) {
    return s->at < s->length ? (unsigned char)s->text[s->at] : EOF;
}

static void skip_space(Scanner *s) {
    while (is_one_of(peek(s), " \t\n\r")) s->at++;
}

static void expect(Scanner *s, char wanted) {
    skip_space(s);
    if (peek(s) != wanted) {
        char what[48];
        const char *found = peek(s) == EOF ? "the input ended" : "found something else";
        snprintf(what, sizeof what, "expected '%c' but %s", wanted, found);
        malformed(s, what);
    }
    s->at++;
}

static int hex_digit(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static unsigned hex4(Scanner *s) {
    unsigned value = 0;
    for (int i = 0; i < 4; i++) {
        int digit = hex_digit(peek(s));
        if (digit < 0) malformed(s, "bad \\u escape");
        value = value * 16 + (unsigned)digit;
        s->at++;
    }
    return value;
}

/* Appends code point cp to out as UTF-8; out always has room, as escapes are longer. */
static size_t put_utf8(char *out, unsigned cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static unsigned unicode_escape(Scanner *s) {
    unsigned cp = hex4(s);
    if (cp >= 0xDC00 && cp <= 0xDFFF) malformed(s, "unpaired low surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (peek(s) != '\\') malformed(s, "unpaired high surrogate");
        s->at++;
        if (peek(s) != 'u') malformed(s, "unpaired high surrogate");
        s->at++;
        unsigned low = hex4(s);
        if (low < 0xDC00 || low > 0xDFFF) malformed(s, "unpaired high surrogate");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    if (cp == 0) malformed(s, "\\u0000 cannot be part of a file name");
    return cp;
}

/* Parses a JSON string at the cursor; returns it decoded and NUL-terminated (caller frees). */
static char *parse_string(Scanner *s) {
    expect(s, '"');
    char *out = malloc(s->length - s->at + 1);
    if (out == NULL) fail(EXIT_TRANSIENT, "out of memory parsing stdin");
    size_t used = 0;
    for (;;) {
        int c = peek(s);
        if (c == EOF) malformed(s, "unterminated string");
        s->at++;
        if (c == '"') break;
        if (c < 0x20) malformed(s, "control character inside a string");
        if (c != '\\') {
            out[used++] = (char)c;
            continue;
        }
        int escaped = peek(s);
        s->at++;
        switch (escaped) {
        case '"': out[used++] = '"'; break;
        case '\\': out[used++] = '\\'; break;
        case '/': out[used++] = '/'; break;
        case 'b': out[used++] = '\b'; break;
        case 'f': out[used++] = '\f'; break;
        case 'n': out[used++] = '\n'; break;
        case 'r': out[used++] = '\r'; break;
        case 't': out[used++] = '\t'; break;
        case 'u': used += put_utf8(out + used, unicode_escape(s)); break;
        default: malformed(s, "unknown escape in string");
        }
    }
    out[used] = '\0';
    return out;
}

static void skip_value(Scanner *s);

/* Skips an object or array; members are checked only as far as needed to find their end. */
static void skip_container(Scanner *s, char close) {
    s->at++;
    skip_space(s);
    if (peek(s) == close) {
        s->at++;
        return;
    }
    for (;;) {
        if (close == '}') {
            free(parse_string(s));
            expect(s, ':');
        }
        skip_value(s);
        skip_space(s);
        if (peek(s) == close) {
            s->at++;
            return;
        }
        expect(s, ',');
    }
}

static void skip_value(Scanner *s) {
    skip_space(s);
    int c = peek(s);
    if (c == '"') {
        free(parse_string(s));
    } else if (c == '{' || c == '[') {
        skip_container(s, c == '{' ? '}' : ']');
    } else if (is_one_of(c, "-0123456789tfn")) {
        while (is_one_of(peek(s), "+-.0123456789eEtruefalsn")) s->at++;
    } else {
        malformed(s, "expected a value");
    }
}

/* The string value of member `key` of the single top-level object (caller frees). */
static char *string_member(Scanner *s, const char *key) {
    char *found = NULL;
    expect(s, '{');
    skip_space(s);
    if (peek(s) == '}') {
        s->at++;
    } else {
        for (;;) {
            char *name = parse_string(s);
            expect(s, ':');
            skip_space(s);
            int wanted = strcmp(name, key) == 0;
            free(name);
            if (wanted && peek(s) != '"') malformed(s, "\"edges\" must be a string");
            if (wanted) {
                free(found); /* the last duplicate wins, as in most JSON parsers */
                found = parse_string(s);
            } else {
                skip_value(s);
            }
            skip_space(s);
            if (peek(s) == '}') {
                s->at++;
                break;
            }
            expect(s, ',');
        }
    }
    skip_space(s);
    if (peek(s) != EOF) malformed(s, "unexpected text after the object");
    if (found == NULL) fail(EXIT_PERMANENT, "stdin has no \"%s\" member", key);
    return found;
}

/* ---- binary PGM ------------------------------------------------------------------------ */

static int skip_comment(FILE *file) {
    int c;
    do c = fgetc(file);
    while (c != '\n' && c != '\r' && c != EOF);
    return c;
}

/* Reads the next header number, skipping whitespace and '#' comments; -1 if there is none. */
static long header_number(FILE *file) {
    int c = fgetc(file);
    while (c == '#' || is_one_of(c, " \t\n\r\v\f")) c = c == '#' ? skip_comment(file) : fgetc(file);
    if (c < '0' || c > '9') return -1;
    long value = 0;
    while (c >= '0' && c <= '9') {
        if (value > 100000000L) return -1;
        value = value * 10 + (c - '0');
        c = fgetc(file);
    }
    if (c == '#') c = skip_comment(file);
    /* Exactly one whitespace byte ends each number, the last one just before the pixels. */
    return is_one_of(c, " \t\n\r\v\f") ? value : -1;
}

static double pgm_density(const char *path) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) fail(EXIT_PERMANENT, "cannot open %s: %s", path, strerror(errno));
    char magic[2];
    if (fread(magic, 1, 2, file) != 2 || magic[0] != 'P' || magic[1] != '5')
        fail(EXIT_PERMANENT, "%s is not a binary PGM (no P5 magic number)", path);
    long width = header_number(file), height = header_number(file), maxval = header_number(file);
    if (width <= 0 || height <= 0 || maxval <= 0)
        fail(EXIT_PERMANENT, "%s has a malformed PGM header", path);
    if (maxval > 255)
        fail(EXIT_PERMANENT, "%s uses 16-bit samples (maxval %ld); want 8-bit", path, maxval);
    size_t pixels = (size_t)width * (size_t)height, nonzero = 0, seen = 0;
    unsigned char chunk[65536];
    while (seen < pixels) {
        size_t want = pixels - seen < sizeof chunk ? pixels - seen : sizeof chunk;
        size_t got = fread(chunk, 1, want, file);
        if (got == 0) fail(EXIT_PERMANENT, "%s is truncated: %zu of %zu pixels", path, seen, pixels);
        for (size_t i = 0; i < got; i++) nonzero += chunk[i] != 0;
        seen += got;
    }
    fclose(file);
    return (double)nonzero / (double)pixels;
}

int main(void) {
    size_t length;
    char *input = read_all(stdin, &length);
    Scanner scanner = {input, length, 0};
    char *path = string_member(&scanner, "edges");
    double density = pgm_density(path);
    printf("{\"density\": %.10g, \"$metrics\": {\"edge_density\": {\"value\": %.10g, "
           "\"better\": \"low\"}}}\n",
           density, density);
    if (fflush(stdout) != 0) fail(EXIT_TRANSIENT, "cannot write stdout: %s", strerror(errno));
    free(path);
    free(input);
    return 0;
}
