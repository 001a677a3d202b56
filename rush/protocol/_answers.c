/* The C accelerator of rush.protocol.answers: answer_plain() with exactly the results of
 * answers.python_answer_plain, whose module notes define it.
 *
 * Facts and strategy:
 * - Messages are read through the MessageFields layout (_message.h) when they are instances
 *   of it; any other message ends the batch (the caller's loop answers it). A member that is
 *   unset (NULL) ends it too.
 * - A response is one allocation: its size is known before a byte is copied.
 * - `handle` is user code: the message is held by a reference while it runs, the list is
 *   re-read after it, and what it raises propagates untouched.
 * - CPython API only; module-level references made once at import (the MessageFields type,
 *   writer.STATUS_LINES, which grows as statuses are first rendered, and the method names).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "_message.h"

static PyTypeObject *message_type; /* rush.protocol._heads.MessageFields */
static PyObject *status_lines;     /* rush.protocol.writer.STATUS_LINES */

/* Whether `text` is the str `ascii` (of `size` characters). */
static int
is_ascii_str(PyObject *text, const char *ascii, Py_ssize_t size)
{
    return text != NULL && PyUnicode_CheckExact(text) && PyUnicode_IS_COMPACT_ASCII(text)
           && PyUnicode_GET_LENGTH(text) == size && memcmp(PyUnicode_DATA(text), ascii, size) == 0;
}

/* Whether answers.python_answer_plain would answer `m` (it is plain to answer). */
static int
plain_to_answer(const Message *m)
{
    return m->complete == Py_True && m->keep_alive == Py_True && m->body_sink == Py_None
           && is_ascii_str(m->version, "1.1", 3) && m->method != NULL && m->target != NULL
           && !is_ascii_str(m->method, "HEAD", 4);
}

/* The bytes `parts` joined, with `text` (of `text_size` chars) put before part `at`: one new
 * bytes object, or NULL with an exception. */
static PyObject *
joined(PyObject *const *parts, Py_ssize_t count, Py_ssize_t at, const char *text,
       Py_ssize_t text_size)
{
    Py_ssize_t size = text_size;
    for (Py_ssize_t i = 0; i < count; i++) {
        size += PyBytes_GET_SIZE(parts[i]);
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) {
        return NULL;
    }
    char *p = PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < count; i++) {
        if (i == at) {
            memcpy(p, text, text_size);
            p += text_size;
        }
        memcpy(p, PyBytes_AS_STRING(parts[i]), PyBytes_GET_SIZE(parts[i]));
        p += PyBytes_GET_SIZE(parts[i]);
    }
    return out;
}

/* Whether `hit` is an entry of the server's table: (status, bytes, bytes, bytes, bool). */
static int
is_prerendered(PyObject *hit)
{
    return PyTuple_CheckExact(hit) && PyTuple_GET_SIZE(hit) == 5
           && PyBytes_CheckExact(PyTuple_GET_ITEM(hit, 1))
           && PyBytes_CheckExact(PyTuple_GET_ITEM(hit, 2))
           && PyBytes_CheckExact(PyTuple_GET_ITEM(hit, 3)) && PyBool_Check(PyTuple_GET_ITEM(hit, 4));
}

/* Whether `name` (of `size` bytes) is `lower` (of `size` bytes, lowercase), ignoring case. */
static int
equals_lowered(const char *name, const char *lower, Py_ssize_t size)
{
    for (Py_ssize_t i = 0; i < size; i++) {
        char c = name[i];
        if ((c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c) != lower[i]) {
            return 0;
        }
    }
    return 1;
}

/* writer.has_preconditions: whether a field of the message's `headers` list is one of
 * writer.PRECONDITION_FIELDS. Unset, or a list of another shape, counts as having them: the
 * app answers. */
static int
has_preconditions(PyObject *headers)
{
    if (headers == NULL || !PyList_Check(headers)) {
        return 1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++) {
        PyObject *field = PyList_GET_ITEM(headers, i);
        if (!PyTuple_CheckExact(field) || PyTuple_GET_SIZE(field) != 2
            || !PyBytes_CheckExact(PyTuple_GET_ITEM(field, 0))) {
            return 1;
        }
        PyObject *name = PyTuple_GET_ITEM(field, 0);
        const char *text = PyBytes_AS_STRING(name);
        Py_ssize_t size = PyBytes_GET_SIZE(name);
        /* PERF: the length decides for most fields; only names starting with i/r compare. */
        if ((size == 5 && equals_lowered(text, "range", 5))
            || (size == 8 && (equals_lowered(text, "if-match", 8) || equals_lowered(text, "if-range", 8)))
            || (size == 13 && equals_lowered(text, "if-none-match", 13))
            || (size == 17 && equals_lowered(text, "if-modified-since", 17))
            || (size == 19 && equals_lowered(text, "if-unmodified-since", 19))) {
            return 1;
        }
    }
    return 0;
}

/* The pre-rendered answer `hit` (is_prerendered) framed: a new reference, or NULL with an
 * exception. */
static PyObject *
framed_prerendered(PyObject *hit, PyObject *date)
{
    PyObject *parts[] = {PyTuple_GET_ITEM(hit, 1), date, PyTuple_GET_ITEM(hit, 2),
                         PyTuple_GET_ITEM(hit, 3)};
    return joined(parts, 4, 4, "", 0);
}

/* "Content-Length: <size>\r\n\r\n" into `out` (48 bytes), its length returned. PERF: by
 * hand, not snprintf: ~820 instructions a dynamic answer to ~40 (valgrind). */
static int
length_line(char *out, Py_ssize_t size)
{
    static const char prefix[] = "Content-Length: ";
    char digits[24];
    int count = 0;
    size_t value = (size_t)size; /* a bytes object's size: never negative */
    do {
        digits[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    memcpy(out, prefix, sizeof(prefix) - 1);
    int at = (int)sizeof(prefix) - 1;
    while (count > 0) {
        out[at++] = digits[--count];
    }
    memcpy(out + at, "\r\n\r\n", 4);
    return at + 4;
}

/* The whole response for an answer with content in bytes (a new reference); NULL without an
 * exception for any other answer (answers._framed). */
static PyObject *
framed_answer(PyObject *answer, PyObject *date)
{
    if (!PyTuple_CheckExact(answer) || PyTuple_GET_SIZE(answer) != 3) {
        return NULL;
    }
    PyObject *status = PyTuple_GET_ITEM(answer, 0), *lines = PyTuple_GET_ITEM(answer, 1),
             *body = PyTuple_GET_ITEM(answer, 2);
    if (!PyLong_CheckExact(status) || !PyBytes_CheckExact(lines) || !PyBytes_CheckExact(body)) {
        return NULL;
    }
    int overflow;
    long code = PyLong_AsLongAndOverflow(status, &overflow);
    if (overflow || code < 200 || code > 599 || code == 204 || code == 304) {
        return NULL;
    }
    PyObject *first = PyDict_GetItemWithError(status_lines, status); /* borrowed */
    if (first == NULL || !PyBytes_CheckExact(first)) {
        return NULL; /* (an int's hash cannot fail: no exception is set) */
    }
    char length[48];
    int length_size = length_line(length, PyBytes_GET_SIZE(body));
    PyObject *parts[] = {first, date, lines, body};
    return joined(parts, 4, 3, length, length_size);
}

PyDoc_STRVAR(answer_plain_doc,
             "answer_plain(messages, pieces, prerendered, date, handle, remote, scheme, budget)\n"
             "--\n\n"
             "Answer the plain requests at the start of messages (see rush.protocol.answers).");

static PyObject *
answer_plain(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError, "answer_plain() takes exactly 8 arguments");
        return NULL;
    }
    PyObject *messages = args[0], *pieces = args[1], *prerendered = args[2], *date = args[3],
             *handle = args[4], *remote = args[5], *scheme = args[6];
    if (!PyList_Check(messages) || !PyList_Check(pieces) || !PyDict_Check(prerendered)
        || !PyBytes_CheckExact(date)) {
        PyErr_SetString(PyExc_TypeError, "answer_plain(): bad argument types");
        return NULL;
    }
    Py_ssize_t budget = PyLong_AsSsize_t(args[7]);
    if (budget == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *held = NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(messages) && budget >= 0; i++) {
        PyObject *item = PyList_GET_ITEM(messages, i);
        if (!PyObject_TypeCheck(item, message_type) || !plain_to_answer((Message *)item)) {
            break;
        }
        Message *m = (Message *)Py_NewRef(item);
        PyObject *data = NULL;
        if (is_ascii_str(m->method, "GET", 3)) {
            PyObject *hit = PyDict_GetItemWithError(prerendered, m->target); /* borrowed */
            if (hit == NULL && PyErr_Occurred()) {
                Py_DECREF(m);
                return NULL;
            }
            if (hit != NULL && !is_prerendered(hit)) {
                Py_DECREF(m);
                break; /* not a table entry this code knows: the caller's loop answers */
            }
            if (hit != NULL && PyTuple_GET_ITEM(hit, 4) == Py_True
                && has_preconditions(m->headers)) {
                hit = NULL; /* the app compares them with the file's validators */
            }
            if (hit != NULL && (data = framed_prerendered(hit, date)) == NULL) {
                Py_DECREF(m);
                return NULL;
            }
        }
        if (data == NULL) {
            PyObject *call[] = {item, remote, scheme};
            PyObject *answer = PyObject_Vectorcall(handle, call, 3, NULL);
            Py_DECREF(m);
            if (answer == NULL) {
                return NULL;
            }
            data = framed_answer(answer, date);
            if (data == NULL) {
                if (PyErr_Occurred()) {
                    Py_DECREF(answer);
                    return NULL;
                }
                held = answer; /* for the caller to frame */
                break;
            }
            Py_DECREF(answer);
        }
        else {
            Py_DECREF(m);
        }
        int failed = PyList_Append(pieces, data);
        budget -= PyBytes_GET_SIZE(data);
        Py_DECREF(data);
        if (failed) {
            return NULL;
        }
    }
    /* PERF: not Py_BuildValue, whose format parsing costs ~360 instructions (_heads.c). */
    PyObject *left = PyLong_FromSsize_t(budget), *result = NULL;
    if (left != NULL && (result = PyTuple_New(2)) != NULL) {
        PyTuple_SET_ITEM(result, 0, Py_NewRef(left));
        PyTuple_SET_ITEM(result, 1, held == NULL ? Py_NewRef(Py_None) : Py_NewRef(held));
    }
    Py_XDECREF(left);
    Py_XDECREF(held);
    return result;
}

static PyMethodDef methods[] = {
    {"answer_plain", (PyCFunction)(void (*)(void))answer_plain, METH_FASTCALL, answer_plain_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "rush.protocol._answers",
    .m_doc = "C accelerator of rush.protocol.answers (see there).",
    .m_size = -1,
    .m_methods = methods,
};

/* Attribute `name` of module `module_name` (a new reference), or NULL with an exception. */
static PyObject *
imported(const char *module_name, const char *name)
{
    PyObject *module = PyImport_ImportModule(module_name);
    if (module == NULL) {
        return NULL;
    }
    PyObject *value = PyObject_GetAttrString(module, name);
    Py_DECREF(module);
    return value;
}

PyMODINIT_FUNC
PyInit__answers(void)
{
    if (message_type == NULL) {
        PyObject *type = imported("rush.protocol._heads", "MessageFields");
        if (type == NULL) {
            return NULL;
        }
        if (!PyType_Check(type)
            || ((PyTypeObject *)type)->tp_basicsize != (Py_ssize_t)sizeof(Message)) {
            Py_DECREF(type);
            PyErr_SetString(PyExc_ImportError, "MessageFields is not the layout of _message.h");
            return NULL;
        }
        message_type = (PyTypeObject *)type;
    }
    if (status_lines == NULL) {
        PyObject *lines = imported("rush.protocol.writer", "STATUS_LINES");
        if (lines == NULL) {
            return NULL;
        }
        if (!PyDict_CheckExact(lines)) {
            Py_DECREF(lines);
            PyErr_SetString(PyExc_ImportError, "writer.STATUS_LINES is not a dict");
            return NULL;
        }
        status_lines = lines;
    }
    return PyModule_Create(&module_def);
}
