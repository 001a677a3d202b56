/* The C accelerator of rush.protocol.heads: parse_heads() with exactly the results of
 * heads.python_parse_heads, whose module notes define a "plain" request.
 *
 * Facts and strategy:
 * - A head is scanned without allocating anything: the field offsets go to a stack array.
 *   Python objects are made only once a request is known to be plain and wholly present,
 *   so declining (an incomplete head, anything unusual) costs no allocation and no cleanup.
 * - It never raises for bad input: it stops before the request and RequestParser gives the
 *   rest to llhttp. The only exceptions are bad arguments and MemoryError.
 * - Every read is bounded by `end` (checked before the byte is looked at); the tests run this
 *   file under AddressSanitizer.
 * - CPython API only; one module-level state of immutable constants (the interned method and
 *   version strings, the byte classes), made once at import.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MAX_FIELDS 64 /* heads.MAX_FIELDS */

static unsigned char is_token[256];  /* RFC 9110 §5.6.2 tchar */
static unsigned char is_target[256]; /* RFC 3986 pchar, "/" and "?" */
static unsigned char is_value[256];  /* HTAB, SP to "~": a conservative field-vchar */

static const char *const METHODS[] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
};
#define METHOD_COUNT (sizeof(METHODS) / sizeof(METHODS[0]))
static PyObject *method_names[METHOD_COUNT]; /* interned str, as heads.METHODS */
static PyObject *version_names[2];           /* "1.0", "1.1" */

typedef struct {
    Py_ssize_t max_target, max_bytes, max_count, max_body;
} Limits;

typedef struct {
    const unsigned char *name, *value;
    Py_ssize_t name_len, value_len;
} Field;

/* One plain request found by scan_head(). */
typedef struct {
    int method, minor, keep_alive;
    const unsigned char *target;
    Py_ssize_t target_len;
    Py_ssize_t field_count;
    Field fields[MAX_FIELDS];
    Py_ssize_t length; /* Content-Length; -1 when there is none */
    const unsigned char *body;
    const unsigned char *end; /* just after the request */
} Head;

enum { PLAIN, HOST, LENGTH, CONNECTION, OTHER };
enum { NO_CONNECTION, CLOSE, KEEP_ALIVE };

/* Whether p[0:len] is `lower` in any case. */
static int
equals_lower(const unsigned char *p, Py_ssize_t len, const char *lower)
{
    if ((size_t)len != strlen(lower)) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        if (Py_TOLOWER(p[i]) != (unsigned char)lower[i]) {
            return 0;
        }
    }
    return 1;
}

static int
find_method(const unsigned char *p, Py_ssize_t len)
{
    for (size_t i = 0; i < METHOD_COUNT; i++) {
        if ((size_t)len == strlen(METHODS[i]) && memcmp(p, METHODS[i], len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* What a field name means to framing, keep-alive or the parser's checks. */
static int
classify(const unsigned char *name, Py_ssize_t len)
{
    switch (len) { /* PERF: most names have none of these lengths: no compare at all */
    case 4:
        return equals_lower(name, len, "host") ? HOST : PLAIN;
    case 6:
        return equals_lower(name, len, "expect") ? OTHER : PLAIN;
    case 7:
        return equals_lower(name, len, "upgrade") ? OTHER : PLAIN;
    case 10:
        return equals_lower(name, len, "connection") ? CONNECTION : PLAIN;
    case 14:
        return equals_lower(name, len, "content-length") ? LENGTH : PLAIN;
    case 16: /* llhttp reads it as Connection */
        return equals_lower(name, len, "proxy-connection") ? OTHER : PLAIN;
    case 17:
        return equals_lower(name, len, "transfer-encoding") ? OTHER : PLAIN;
    default:
        return PLAIN;
    }
}

/* A Content-Length value: 1 and *length set when it is ASCII digits worth at most max_body. */
static int
read_length(const unsigned char *p, Py_ssize_t len, Py_ssize_t max_body, Py_ssize_t *length)
{
    Py_ssize_t n = 0;
    if (len == 0) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9' || n > max_body / 10) {
            return 0;
        }
        n *= 10; /* cannot overflow: n <= max_body / 10 */
        if (n > max_body - (p[i] - '0')) {
            return 0;
        }
        n += p[i] - '0';
    }
    *length = n;
    return 1;
}

/* The request line from p into h; the position after its CRLF, or NULL if it is not plain. */
static const unsigned char *
scan_request_line(const unsigned char *p, const unsigned char *end, const Limits *limits, Head *h)
{
    const unsigned char *space = memchr(p, ' ', end - p < 8 ? end - p : 8);
    if (space == NULL || (h->method = find_method(p, space - p)) < 0) {
        return NULL;
    }
    p = space + 1;
    if (p == end || *p != '/') {
        return NULL;
    }
    h->target = p;
    while (p < end && is_target[*p]) {
        p++;
    }
    h->target_len = p - h->target;
    if (h->target_len > limits->max_target || end - p < 11 || memcmp(p, " HTTP/1.", 8) != 0
        || (p[8] != '0' && p[8] != '1') || p[9] != '\r' || p[10] != '\n') {
        return NULL;
    }
    h->minor = p[8] - '0';
    return p + 11;
}

/* One field line from p into f; the position after its CRLF, or NULL if it is not plain. */
static const unsigned char *
scan_field(const unsigned char *p, const unsigned char *end, Field *f)
{
    const unsigned char *value_end;
    f->name = p;
    while (p < end && is_token[*p]) {
        p++;
    }
    if (p == f->name || p == end || *p != ':') {
        return NULL;
    }
    f->name_len = p - f->name;
    p++;
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    f->value = p;
    while (p < end && is_value[*p]) {
        p++;
    }
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
        return NULL;
    }
    value_end = p;
    while (value_end > f->value && (value_end[-1] == ' ' || value_end[-1] == '\t')) {
        value_end--;
    }
    f->value_len = value_end - f->value;
    return p + 2;
}

/* 1: a whole plain request starts at p and is described in *h; 0: it does not. */
static int
scan_head(const unsigned char *p, const unsigned char *end, const Limits *limits, Head *h)
{
    Py_ssize_t size = 0, max_count = limits->max_count < MAX_FIELDS ? limits->max_count : MAX_FIELDS;
    int hosts = 0, connection = NO_CONNECTION;
    h->length = -1;
    h->field_count = 0;
    if (max_count < 0 || (p = scan_request_line(p, end, limits, h)) == NULL) {
        return 0;
    }
    while (!(end - p >= 2 && p[0] == '\r' && p[1] == '\n')) {
        Field *f = &h->fields[h->field_count];
        if (h->field_count >= max_count || (p = scan_field(p, end, f)) == NULL) {
            return 0;
        }
        h->field_count++;
        size += f->name_len + f->value_len + 4;
        switch (classify(f->name, f->name_len)) {
        case HOST:
            hosts++;
            break;
        case LENGTH:
            if (h->length >= 0 || !read_length(f->value, f->value_len, limits->max_body, &h->length)) {
                return 0;
            }
            break;
        case CONNECTION:
            if (connection != NO_CONNECTION) {
                return 0;
            }
            connection = equals_lower(f->value, f->value_len, "close")        ? CLOSE
                         : equals_lower(f->value, f->value_len, "keep-alive") ? KEEP_ALIVE
                                                                              : NO_CONNECTION;
            if (connection == NO_CONNECTION) {
                return 0;
            }
            break;
        case OTHER:
            return 0;
        }
    }
    p += 2;
    if (size > limits->max_bytes || hosts > 1 || (hosts == 0 && h->minor == 1)) {
        return 0;
    }
    h->keep_alive = h->minor == 1 ? connection != CLOSE : connection == KEEP_ALIVE;
    h->body = p;
    if (h->length > 0) {
        if (end - p < h->length) {
            return 0; /* the body is still arriving */
        }
        p += h->length;
    }
    h->end = p;
    return 1;
}

static PyObject *
bytes_of(const unsigned char *p, Py_ssize_t len)
{
    return PyBytes_FromStringAndSize((const char *)p, len);
}

/* The heads.Head tuple of a scanned request (a new reference), or NULL with an exception. */
static PyObject *
build_head(const Head *h)
{
    PyObject *fields = PyList_New(h->field_count), *head;
    if (fields == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < h->field_count; i++) {
        const Field *f = &h->fields[i];
        PyObject *pair = PyTuple_New(2);
        if (pair == NULL) {
            Py_DECREF(fields);
            return NULL;
        }
        PyList_SET_ITEM(fields, i, pair);
        PyObject *name = bytes_of(f->name, f->name_len), *value;
        if (name == NULL) {
            Py_DECREF(fields);
            return NULL;
        }
        PyTuple_SET_ITEM(pair, 0, name);
        if ((value = bytes_of(f->value, f->value_len)) == NULL) {
            Py_DECREF(fields);
            return NULL;
        }
        PyTuple_SET_ITEM(pair, 1, value);
    }
    /* "N" steals fields; a NULL from bytes_of or PyLong makes Py_BuildValue fail cleanly. */
    head = Py_BuildValue(
        "(ONONNNN)",
        method_names[h->method],
        bytes_of(h->target, h->target_len),
        version_names[h->minor],
        fields,
        PyBool_FromLong(h->keep_alive),
        h->length < 0 ? Py_NewRef(Py_None) : PyLong_FromSsize_t(h->length),
        bytes_of(h->body, h->length > 0 ? h->length : 0));
    return head;
}

static int
read_limit(PyObject *arg, Py_ssize_t *limit)
{
    *limit = PyLong_AsSsize_t(arg);
    return *limit == -1 && PyErr_Occurred() ? -1 : 0;
}

PyDoc_STRVAR(parse_heads_doc,
"parse_heads(data, max_target, max_header_bytes, max_header_count, max_body)\n"
"--\n\n"
"The complete plain requests at the start of data, as heads.Head tuples, and the\n"
"number of bytes they took (see rush.protocol.heads).");

static PyObject *
parse_heads(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Limits limits;
    Py_buffer view;
    Head head;
    PyObject *heads;
    const unsigned char *start, *p, *end;
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "parse_heads() takes 5 arguments (%zd given)", nargs);
        return NULL;
    }
    if (read_limit(args[1], &limits.max_target) < 0 || read_limit(args[2], &limits.max_bytes) < 0
        || read_limit(args[3], &limits.max_count) < 0 || read_limit(args[4], &limits.max_body) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if ((heads = PyList_New(0)) == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    start = p = view.buf;
    end = start + view.len;
    while (scan_head(p, end, &limits, &head)) {
        PyObject *item = build_head(&head);
        if (item == NULL || PyList_Append(heads, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(heads);
            PyBuffer_Release(&view);
            return NULL;
        }
        Py_DECREF(item);
        p = head.end;
        if (!head.keep_alive) {
            break; /* llhttp refuses data after it; let it see that data */
        }
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(Nn)", heads, (Py_ssize_t)(p - start));
}

static PyMethodDef methods[] = {
    {"parse_heads", (PyCFunction)(void (*)(void))parse_heads, METH_FASTCALL, parse_heads_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "rush.protocol._heads",
    .m_doc = "C accelerator of rush.protocol.heads (see there).",
    .m_size = -1,
    .m_methods = methods,
};

static void
mark(unsigned char *table, const char *members)
{
    for (; *members; members++) {
        table[(unsigned char)*members] = 1;
    }
}

PyMODINIT_FUNC
PyInit__heads(void)
{
    static const char alnum[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    mark(is_token, alnum);
    mark(is_token, "!#$%&'*+-.^_`|~");
    mark(is_target, alnum);
    mark(is_target, "-._~!$&'()*+,;=:@/?%");
    for (int c = 0x20; c < 0x7f; c++) {
        is_value[c] = 1;
    }
    is_value['\t'] = 1;
    for (size_t i = 0; i < METHOD_COUNT; i++) {
        if (method_names[i] == NULL && (method_names[i] = PyUnicode_InternFromString(METHODS[i])) == NULL) {
            return NULL;
        }
    }
    if (version_names[0] == NULL && (version_names[0] = PyUnicode_InternFromString("1.0")) == NULL) {
        return NULL;
    }
    if (version_names[1] == NULL && (version_names[1] = PyUnicode_InternFromString("1.1")) == NULL) {
        return NULL;
    }
    return PyModule_Create(&module_def);
}
