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
#include <structmember.h> /* T_OBJECT_EX: Python 3.11 */

#include "_message.h"

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

/* A Host value the plain path takes (heads.py plain_host): ASCII letters, digits and -._~,
 * then optionally ':' and digits. Any other is for the full parser to judge. */
static int
plain_host(const unsigned char *p, Py_ssize_t len)
{
    Py_ssize_t i = 0;
    for (; i < len && p[i] != ':'; i++) {
        unsigned char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~')) {
            return 0;
        }
    }
    for (i++; i < len; i++) { /* the port, after the colon */
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }
    }
    return 1;
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
            if (!plain_host(f->value, f->value_len)) {
                return 0;
            }
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

/* MessageFields (the struct is in _message.h, which _answers.c reads too): the C twin of
 * parser.PythonMessageFields. Every member is an object (T_OBJECT_EX, like a __slots__
 * entry): the interpreter's attribute specialisations treat them as slots, and an unset one
 * raises AttributeError. */

#define MESSAGE_MEMBER(name) {#name, T_OBJECT_EX, offsetof(Message, name), 0, NULL}
static PyMemberDef message_members[] = {
    MESSAGE_MEMBER(method), MESSAGE_MEMBER(target), MESSAGE_MEMBER(version),
    MESSAGE_MEMBER(headers), MESSAGE_MEMBER(keep_alive), MESSAGE_MEMBER(content_length),
    MESSAGE_MEMBER(chunked), MESSAGE_MEMBER(expect_continue), MESSAGE_MEMBER(body_parts),
    MESSAGE_MEMBER(body_size), MESSAGE_MEMBER(body_sink), MESSAGE_MEMBER(body_limit),
    MESSAGE_MEMBER(body_wanted), MESSAGE_MEMBER(complete), {NULL, 0, 0, 0, NULL},
};

static PyObject *empty_str, *empty_bytes, *zero; /* defaults, made at import */

/* Set every field of m as PythonMessageFields.__init__ does; the five given are borrowed,
 * headers NULL for a new list. 0, or -1 with an exception. */
static int
message_fill(Message *m, PyObject *method, PyObject *target, PyObject *version,
             PyObject *headers, PyObject *keep_alive)
{
    PyObject *parts = PyList_New(0);
    if (parts == NULL) {
        return -1;
    }
    if (headers == NULL) {
        if ((headers = PyList_New(0)) == NULL) {
            Py_DECREF(parts);
            return -1;
        }
    }
    else {
        Py_INCREF(headers);
    }
    Py_XSETREF(m->headers, headers);
    Py_XSETREF(m->body_parts, parts);
    Py_XSETREF(m->method, Py_NewRef(method));
    Py_XSETREF(m->target, Py_NewRef(target));
    Py_XSETREF(m->version, Py_NewRef(version));
    Py_XSETREF(m->keep_alive, Py_NewRef(keep_alive));
    Py_XSETREF(m->content_length, Py_NewRef(Py_None));
    Py_XSETREF(m->chunked, Py_NewRef(Py_False));
    Py_XSETREF(m->expect_continue, Py_NewRef(Py_False));
    Py_XSETREF(m->body_size, Py_NewRef(zero));
    Py_XSETREF(m->body_sink, Py_NewRef(Py_None));
    Py_XSETREF(m->body_limit, Py_NewRef(zero));
    Py_XSETREF(m->body_wanted, Py_NewRef(Py_True));
    Py_XSETREF(m->complete, Py_NewRef(Py_False));
    return 0;
}

static int
message_init(Message *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"method", "target", "version", "headers", "keep_alive", NULL};
    PyObject *method = empty_str, *target = empty_bytes, *version = version_names[1];
    PyObject *headers = Py_None, *keep_alive = Py_True;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OOOOO:MessageFields", keywords, &method,
                                     &target, &version, &headers, &keep_alive)) {
        return -1;
    }
    return message_fill(self, method, target, version, headers == Py_None ? NULL : headers,
                        keep_alive);
}

static int
message_traverse(Message *self, visitproc visit, void *arg)
{
    Py_VISIT(self->method);
    Py_VISIT(self->target);
    Py_VISIT(self->version);
    Py_VISIT(self->headers);
    Py_VISIT(self->keep_alive);
    Py_VISIT(self->content_length);
    Py_VISIT(self->chunked);
    Py_VISIT(self->expect_continue);
    Py_VISIT(self->body_parts);
    Py_VISIT(self->body_size);
    Py_VISIT(self->body_sink);
    Py_VISIT(self->body_limit);
    Py_VISIT(self->body_wanted);
    Py_VISIT(self->complete);
    return 0;
}

static int
message_clear(Message *self)
{
    Py_CLEAR(self->method);
    Py_CLEAR(self->target);
    Py_CLEAR(self->version);
    Py_CLEAR(self->headers);
    Py_CLEAR(self->keep_alive);
    Py_CLEAR(self->content_length);
    Py_CLEAR(self->chunked);
    Py_CLEAR(self->expect_continue);
    Py_CLEAR(self->body_parts);
    Py_CLEAR(self->body_size);
    Py_CLEAR(self->body_sink);
    Py_CLEAR(self->body_limit);
    Py_CLEAR(self->body_wanted);
    Py_CLEAR(self->complete);
    return 0;
}

/* A subclass's own dealloc (subtype_dealloc) calls this and releases the subclass. */
static void
message_dealloc(Message *self)
{
    PyObject_GC_UnTrack(self);
    message_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject MessageType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rush.protocol._heads.MessageFields",
    .tp_doc = PyDoc_STR("The attributes of a request message (see parser.PythonMessageFields)."),
    .tp_basicsize = sizeof(Message),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)message_init,
    .tp_dealloc = (destructor)message_dealloc,
    .tp_traverse = (traverseproc)message_traverse,
    .tp_clear = (inquiry)message_clear,
    .tp_members = message_members,
};

static PyObject *str_complete, *str_content_length, *str_body_parts, *str_body_size,
    *str_body_limit;

/* A complete message of type `type` for a scanned request (a new reference), or NULL with an
 * exception: as heads.python_parse_heads makes it. A subclass of MessageFields that keeps its
 * __new__ and __init__ is filled here directly; any other type is called, then its
 * attributes are set. */
static PyObject *
build_message(PyTypeObject *type, const Head *h, PyObject *fields, PyObject *max_body)
{
    PyObject *target = NULL, *body = NULL, *length = NULL, *message = NULL;
    if ((target = bytes_of(h->target, h->target_len)) == NULL) {
        goto done;
    }
    if (h->length >= 0 && (length = PyLong_FromSsize_t(h->length)) == NULL) {
        goto done;
    }
    if (h->length > 0 && (body = bytes_of(h->body, h->length)) == NULL) {
        goto done;
    }
    PyObject *keep_alive = h->keep_alive ? Py_True : Py_False;
    if (type->tp_init == (initproc)message_init && type->tp_new == PyType_GenericNew
        && PyType_IsSubtype(type, &MessageType)) {
        Message *m = (Message *)type->tp_alloc(type, 0);
        if (m == NULL) {
            goto done;
        }
        message = (PyObject *)m;
        if (message_fill(m, method_names[h->method], target, version_names[h->minor], fields,
                         keep_alive) < 0) {
            Py_CLEAR(message);
            goto done;
        }
        Py_SETREF(m->complete, Py_NewRef(Py_True));
        if (length != NULL) {
            Py_SETREF(m->content_length, Py_NewRef(length));
        }
        if (body != NULL) {
            if (PyList_Append(m->body_parts, body) < 0) {
                Py_CLEAR(message);
                goto done;
            }
            Py_SETREF(m->body_size, Py_NewRef(length));
            Py_SETREF(m->body_limit, Py_NewRef(max_body));
        }
        goto done;
    }
    PyObject *args[] = {method_names[h->method], target, version_names[h->minor], fields,
                        keep_alive};
    if ((message = PyObject_Vectorcall((PyObject *)type, args, 5, NULL)) == NULL) {
        goto done;
    }
    if (PyObject_SetAttr(message, str_complete, Py_True) < 0
        || (length != NULL && PyObject_SetAttr(message, str_content_length, length) < 0)) {
        Py_CLEAR(message);
        goto done;
    }
    if (body != NULL) {
        PyObject *parts = PyList_New(1);
        if (parts == NULL) {
            Py_CLEAR(message);
            goto done;
        }
        PyList_SET_ITEM(parts, 0, Py_NewRef(body));
        int failed = PyObject_SetAttr(message, str_body_parts, parts) < 0
                     || PyObject_SetAttr(message, str_body_size, length) < 0
                     || PyObject_SetAttr(message, str_body_limit, max_body) < 0;
        Py_DECREF(parts);
        if (failed) {
            Py_CLEAR(message);
        }
    }
done:
    Py_XDECREF(target);
    Py_XDECREF(length);
    Py_XDECREF(body);
    return message;
}

/* The field list of a scanned request (a new reference), or NULL with an exception. */
static PyObject *
build_fields(const Head *h)
{
    PyObject *fields = PyList_New(h->field_count);
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
    return fields;
}

/* The heads.Head tuple of a scanned request with its fields (a new reference, stolen), or
 * NULL with an exception. */
static PyObject *
build_head(const Head *h, PyObject *fields)
{
    /* "N" steals fields; a NULL from bytes_of or PyLong makes Py_BuildValue fail cleanly. */
    return Py_BuildValue(
        "(ONONNNN)",
        method_names[h->method],
        bytes_of(h->target, h->target_len),
        version_names[h->minor],
        fields,
        PyBool_FromLong(h->keep_alive),
        h->length < 0 ? Py_NewRef(Py_None) : PyLong_FromSsize_t(h->length),
        bytes_of(h->body, h->length > 0 ? h->length : 0));
}

/* One request of parse_heads' result: a Head tuple, or a message of `type` if not NULL. */
static PyObject *
build_item(PyTypeObject *type, const Head *h, PyObject *max_body)
{
    PyObject *fields = build_fields(h), *item;
    if (fields == NULL) {
        return NULL;
    }
    if (type == NULL) {
        return build_head(h, fields);
    }
    item = build_message(type, h, fields, max_body);
    Py_DECREF(fields);
    return item;
}

static int
read_limit(PyObject *arg, Py_ssize_t *limit)
{
    *limit = PyLong_AsSsize_t(arg);
    return *limit == -1 && PyErr_Occurred() ? -1 : 0;
}

PyDoc_STRVAR(parse_heads_doc,
"parse_heads(data, max_target, max_header_bytes, max_header_count, max_body,\n"
"            message_type=None, end=None)\n"
"--\n\n"
"The complete plain requests at the start of data[:end], as heads.Head tuples or complete\n"
"messages of message_type, and the number of bytes they took (see rush.protocol.heads).");

static PyObject *
parse_heads(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    Limits limits;
    Py_buffer view;
    Head head;
    PyObject *heads;
    PyTypeObject *type = NULL;
    const unsigned char *start, *p, *end;
    Py_ssize_t size = PY_SSIZE_T_MAX;
    if (nargs < 5 || nargs > 7) {
        PyErr_Format(PyExc_TypeError, "parse_heads() takes 5 to 7 arguments (%zd given)", nargs);
        return NULL;
    }
    if (nargs == 7 && args[6] != Py_None) {
        size = PyLong_AsSsize_t(args[6]);
        if (size == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (size < 0) {
            PyErr_SetString(PyExc_ValueError, "parse_heads() end must not be negative");
            return NULL;
        }
    }
    if (nargs >= 6 && args[5] != Py_None) {
        if (!PyType_Check(args[5])) {
            PyErr_SetString(PyExc_TypeError, "parse_heads() message_type must be a type");
            return NULL;
        }
        type = (PyTypeObject *)args[5];
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
    end = start + (size < view.len ? size : view.len);
    while (scan_head(p, end, &limits, &head)) {
        PyObject *item = build_item(type, &head, args[4]);
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
    /* PERF: not Py_BuildValue("(Nn)"), whose format parsing cost a redirect 360 of its 21.2k
     * instructions (bench/micro.py --instructions). */
    PyObject *consumed = PyLong_FromSsize_t(p - start), *result;
    if (consumed == NULL || (result = PyTuple_New(2)) == NULL) {
        Py_XDECREF(consumed);
        Py_DECREF(heads);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, heads);
    PyTuple_SET_ITEM(result, 1, consumed);
    return result;
}

/* name in lower case (a new reference): ASCII lowered here, anything else by str.lower()
 * as heads.python_decode_fields does; the name itself when it has no upper case letter. */
static PyObject *
lowered(PyObject *name)
{
    if (!PyUnicode_IS_ASCII(name)) {
        return PyObject_CallMethod(name, "lower", NULL);
    }
    const Py_UCS1 *text = PyUnicode_1BYTE_DATA(name);
    Py_ssize_t size = PyUnicode_GET_LENGTH(name), i = 0;
    while (i < size && !(text[i] >= 'A' && text[i] <= 'Z')) {
        i++;
    }
    if (i == size) {
        return Py_NewRef(name);
    }
    PyObject *lower = PyUnicode_New(size, 127);
    if (lower == NULL) {
        return NULL;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(lower);
    for (i = 0; i < size; i++) {
        out[i] = text[i] >= 'A' && text[i] <= 'Z' ? text[i] + ('a' - 'A') : text[i];
    }
    return lower;
}

/* One (name, value) byte pair decoded into items[i] and the index; 0, or -1 with an
 * exception. */
static int
decode_field(PyObject *field, PyObject *items, Py_ssize_t i, PyObject *index)
{
    PyObject *pair = PySequence_Fast(field, "decode_fields(): a field is not a pair");
    if (pair == NULL) {
        return -1;
    }
    if (PySequence_Fast_GET_SIZE(pair) != 2 || !PyBytes_Check(PySequence_Fast_GET_ITEM(pair, 0))
        || !PyBytes_Check(PySequence_Fast_GET_ITEM(pair, 1))) {
        Py_DECREF(pair);
        PyErr_SetString(PyExc_TypeError, "decode_fields(): a field is not a (bytes, bytes) pair");
        return -1;
    }
    PyObject *raw_name = PySequence_Fast_GET_ITEM(pair, 0);
    PyObject *raw_value = PySequence_Fast_GET_ITEM(pair, 1);
    PyObject *name = PyUnicode_DecodeLatin1(PyBytes_AS_STRING(raw_name),
                                            PyBytes_GET_SIZE(raw_name), NULL);
    PyObject *value = name == NULL ? NULL
                                   : PyUnicode_DecodeLatin1(PyBytes_AS_STRING(raw_value),
                                                            PyBytes_GET_SIZE(raw_value), NULL);
    PyObject *item = value == NULL ? NULL : PyTuple_Pack(2, name, value);
    PyObject *key = item == NULL ? NULL : lowered(name);
    int status = -1;
    if (key != NULL) {
        PyList_SET_ITEM(items, i, item); /* steals the reference */
        item = NULL;
        PyObject *values = PyDict_GetItemWithError(index, key); /* borrowed */
        if (values != NULL) {
            status = PyList_Append(values, value);
        }
        else if (!PyErr_Occurred() && (values = PyList_New(1)) != NULL) {
            PyList_SET_ITEM(values, 0, Py_NewRef(value));
            status = PyDict_SetItem(index, key, values);
            Py_DECREF(values);
        }
    }
    Py_XDECREF(key);
    Py_XDECREF(item);
    Py_XDECREF(value);
    Py_XDECREF(name);
    Py_DECREF(pair);
    return status;
}

PyDoc_STRVAR(decode_fields_doc,
             "decode_fields(raw)\n--\n\n"
             "The items and the index of rush.datastructures.Headers for the parser's (name, "
             "value) byte pairs (see heads.python_decode_fields).");

static PyObject *
decode_fields(PyObject *Py_UNUSED(module), PyObject *raw)
{
    /* A list or tuple as it is (a new reference); any other iterable as a new list. */
    PyObject *fields = PySequence_Fast(raw, "decode_fields(): the fields are not iterable");
    if (fields == NULL) {
        return NULL;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(fields);
    PyObject *items = PyList_New(count), *index = PyDict_New(), *result = NULL;
    if (items == NULL || index == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        /* Nothing here runs Python code that could change `fields` (str.lower is C). */
        if (decode_field(PySequence_Fast_GET_ITEM(fields, i), items, i, index) < 0) {
            goto done;
        }
    }
    result = PyTuple_Pack(2, items, index);
done:
    Py_XDECREF(items);
    Py_XDECREF(index);
    Py_DECREF(fields);
    return result;
}

static PyMethodDef methods[] = {
    {"parse_heads", (PyCFunction)(void (*)(void))parse_heads, METH_FASTCALL, parse_heads_doc},
    {"decode_fields", (PyCFunction)decode_fields, METH_O, decode_fields_doc},
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
    if (empty_str == NULL && (empty_str = PyUnicode_InternFromString("")) == NULL) {
        return NULL;
    }
    if (empty_bytes == NULL && (empty_bytes = PyBytes_FromStringAndSize("", 0)) == NULL) {
        return NULL;
    }
    if (zero == NULL && (zero = PyLong_FromLong(0)) == NULL) {
        return NULL;
    }
    static const struct { PyObject **slot; const char *name; } names[] = {
        {&str_complete, "complete"},     {&str_content_length, "content_length"},
        {&str_body_parts, "body_parts"}, {&str_body_size, "body_size"},
        {&str_body_limit, "body_limit"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i].slot == NULL && (*names[i].slot = PyUnicode_InternFromString(names[i].name)) == NULL) {
            return NULL;
        }
    }
    if (PyType_Ready(&MessageType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "MessageFields", (PyObject *)&MessageType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
