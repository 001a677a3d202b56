/* The C accelerator of rush.request: a Request built, and its query string read, without
 * running Python per request.
 *
 * Facts and strategy:
 * - RequestMaker(Request, Request, NO_VIEW_ARGS), called as Request is (with every argument,
 *   `app` last), makes the Request its __init__ would: it writes each of the class's
 *   __slots__ at the offset of its descriptor (found once, when the maker is made). A target
 *   whose path holds a '%' (rush.request.decode_path unquotes it), or arguments not of the
 *   types the server passes, are handed to the fallback (Request, the twin): the C path never
 *   answers differently.
 * - query_args(query, multidict_type, max_fields) is request.python_query_args: a MultiDict of
 *   the `&`-separated `name=value` pairs, latin-1 decoded, empty pieces skipped, the first
 *   value of a repeated name in the dict and every pair in `_pairs`. It declines (None) a
 *   query with '%' or '+' (urllib's unquote_plus is the one decoder) or over max_fields pairs
 *   (a 400, raised by the twin); the caller then runs the twin.
 * - Instances are made with the type's own tp_new, as calling the class does; the work of
 *   __init__ (MultiDict's, Request's) is done here.
 * - multidict_get is rush.datastructures.python_multidict_get as a method of dict (MultiDict
 *   takes it as its `get`): dict.get's lookup, at dict.get's cost, with Werkzeug's `type=`.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "_slots.h"

static PyObject *empty_tuple, *str_pairs;

/* The slots of Request, in the order of its __init__; the last ones are set to a default. */
enum {
    METHOD, PATH, QUERY_STRING, RAW_HEADERS, BODY, HTTP_VERSION, KEEP_ALIVE, REMOTE_ADDR, APP,
    ROUTE, VIEW_ARGS, SESSION, ARGS, SLOTS
};
static const char *const slot_names[SLOTS] = {
    "method", "path", "query_string", "raw_headers", "_body", "http_version", "keep_alive",
    "remote_addr", "app", "route", "view_args", "_session", "_args",
};

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyTypeObject *cls;
    PyObject *fallback, *view_args;
    Py_ssize_t offsets[SLOTS];
} RequestMaker;

/* Called as Request(method, target, raw_headers, body, http_version, keep_alive, remote_addr,
 * app): a Request. */
static PyObject *
maker_call(RequestMaker *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *target = nargs == 8 && kwnames == NULL ? args[1] : NULL;
    if (target == NULL || !PyBytes_CheckExact(target) || !PyList_CheckExact(args[2])) {
        return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    }
    const char *start = PyBytes_AS_STRING(target);
    Py_ssize_t size = PyBytes_GET_SIZE(target);
    const char *mark = memchr(start, '?', (size_t)size);
    Py_ssize_t path_size = mark != NULL ? mark - start : size;
    if (memchr(start, '%', (size_t)path_size) != NULL) {
        return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames); /* decode_path */
    }
    PyObject *values[SLOTS] = {NULL};
    values[PATH] = PyUnicode_DecodeUTF8(start, path_size, "replace");
    values[QUERY_STRING] =
        mark != NULL ? PyBytes_FromStringAndSize(mark + 1, size - path_size - 1)
                     : PyBytes_FromStringAndSize(NULL, 0);
    PyObject *request = NULL;
    if (values[PATH] != NULL && values[QUERY_STRING] != NULL) {
        request = self->cls->tp_new(self->cls, empty_tuple, NULL);
    }
    if (request == NULL) {
        Py_XDECREF(values[PATH]);
        Py_XDECREF(values[QUERY_STRING]);
        return NULL;
    }
    values[METHOD] = args[0];
    values[RAW_HEADERS] = args[2];
    values[BODY] = args[3];
    values[HTTP_VERSION] = args[4];
    values[KEEP_ALIVE] = args[5];
    values[REMOTE_ADDR] = args[6];
    values[APP] = args[7];
    values[ROUTE] = values[SESSION] = values[ARGS] = Py_None;
    values[VIEW_ARGS] = self->view_args;
    for (int i = 0; i < SLOTS; i++) {
        if (i != PATH && i != QUERY_STRING) {
            Py_INCREF(values[i]); /* the two made here pass their reference on */
        }
        SLOT(request, self->offsets[i]) = values[i]; /* a new object's slots are NULL */
    }
    return request;
}

static PyObject *
maker_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyTypeObject *cls;
    PyObject *fallback, *view_args;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "RequestMaker takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O!OO:RequestMaker", &PyType_Type, &cls, &fallback,
                          &view_args)) {
        return NULL;
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "RequestMaker: the fallback must be callable");
        return NULL;
    }
    if (cls->tp_new != PyBaseObject_Type.tp_new) {
        /* its instances are written at their slots' offsets: they must be what object()
         * makes of the class, not what a __new__ may return */
        PyErr_Format(PyExc_TypeError, "RequestMaker: %s defines __new__", cls->tp_name);
        return NULL;
    }
    RequestMaker *self = (RequestMaker *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->vectorcall = (vectorcallfunc)maker_call;
    self->cls = (PyTypeObject *)Py_NewRef((PyObject *)cls);
    self->fallback = Py_NewRef(fallback);
    self->view_args = Py_NewRef(view_args);
    for (int i = 0; i < SLOTS; i++) {
        self->offsets[i] = slot_offset(self->cls, slot_names[i]);
        if (self->offsets[i] < 0) {
            Py_DECREF(self);
            return NULL;
        }
    }
    return (PyObject *)self;
}

static int
maker_traverse(RequestMaker *self, visitproc visit, void *arg)
{
    Py_VISIT(self->cls);
    Py_VISIT(self->fallback);
    Py_VISIT(self->view_args);
    return 0;
}

static int
maker_clear(RequestMaker *self)
{
    Py_CLEAR(self->cls);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->view_args);
    return 0;
}

static void
maker_dealloc(RequestMaker *self)
{
    PyObject_GC_UnTrack(self);
    maker_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(maker_doc,
             "RequestMaker(cls, fallback, view_args)\n--\n\n"
             "Called as fallback(method, target, raw_headers, body, http_version, keep_alive,\n"
             "remote_addr, app) is (fallback: Request itself): a `cls` (Request) with its\n"
             "slots set in C, the last of them to None and `view_args`.");

static PyTypeObject RequestMakerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "rush._request.RequestMaker",
    .tp_basicsize = sizeof(RequestMaker),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = maker_doc,
    .tp_new = maker_new,
    .tp_dealloc = (destructor)maker_dealloc,
    .tp_traverse = (traverseproc)maker_traverse,
    .tp_clear = (inquiry)maker_clear,
    .tp_vectorcall_offset = offsetof(RequestMaker, vectorcall),
    .tp_call = PyVectorcall_Call,
};

/* Add one `name=value` piece (no '=': the value is "") to `pairs` and, if the name is new,
 * to `args`. */
static int
add_pair(PyObject *args, PyObject *pairs, const char *piece, Py_ssize_t size)
{
    const char *equals = memchr(piece, '=', (size_t)size);
    Py_ssize_t name_size = equals != NULL ? equals - piece : size;
    PyObject *name = PyUnicode_DecodeLatin1(piece, name_size, NULL);
    if (name == NULL) {
        return -1;
    }
    PyObject *value = equals != NULL ? PyUnicode_DecodeLatin1(equals + 1, size - name_size - 1, NULL)
                                     : PyUnicode_New(0, 0);
    if (value == NULL) {
        Py_DECREF(name);
        return -1;
    }
    PyObject *pair = PyTuple_Pack(2, name, value);
    int failed = pair == NULL || PyList_Append(pairs, pair) < 0 ||
                 PyDict_SetDefault(args, name, value) == NULL;
    Py_XDECREF(pair);
    Py_DECREF(name);
    Py_DECREF(value);
    return failed ? -1 : 0;
}

static PyObject *
query_args(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "query_args() takes exactly 3 arguments");
        return NULL;
    }
    PyObject *query = args[0], *cls = args[1];
    Py_ssize_t max_fields = PyLong_AsSsize_t(args[2]);
    if (max_fields == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (!PyBytes_CheckExact(query) || !PyType_Check(cls) ||
        !PyType_IsSubtype((PyTypeObject *)cls, &PyDict_Type)) {
        Py_RETURN_NONE;
    }
    const char *start = PyBytes_AS_STRING(query);
    Py_ssize_t size = PyBytes_GET_SIZE(query);
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < size; i++) {
        char c = start[i];
        if (c == '%' || c == '+') {
            Py_RETURN_NONE;
        }
        if (c != '&' && (i == 0 || start[i - 1] == '&')) {
            count++; /* a piece starts: empty pieces are skipped */
        }
    }
    if (count > max_fields) {
        Py_RETURN_NONE; /* the twin raises its 400 */
    }
    PyTypeObject *type = (PyTypeObject *)cls;
    PyObject *result = type->tp_new(type, empty_tuple, NULL);
    PyObject *pairs = PyList_New(0);
    if (result == NULL || pairs == NULL) {
        goto fail;
    }
    const char *end = start + size;
    for (const char *piece = start; piece < end;) {
        const char *amp = memchr(piece, '&', (size_t)(end - piece));
        const char *stop = amp != NULL ? amp : end;
        if (stop > piece && add_pair(result, pairs, piece, stop - piece) < 0) {
            goto fail;
        }
        piece = stop + 1;
    }
    if (PyObject_SetAttr(result, str_pairs, pairs) < 0) {
        goto fail;
    }
    Py_DECREF(pairs);
    return result;
fail:
    Py_XDECREF(pairs);
    Py_XDECREF(result);
    return NULL;
}

/* get(key, default=None, type=None): the value of `key` (the dict's own, no __missing__), else
 * `default`; with `type`, type(value), or `default` when that raises ValueError or TypeError. */
static PyObject *
multidict_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const names[] = {"key", "default", "type"};
    PyObject *given[3] = {NULL, NULL, NULL};
    if (nargs > 3) {
        PyErr_Format(PyExc_TypeError, "get() takes at most 3 arguments (%zd given)", nargs);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        given[i] = args[i];
    }
    Py_ssize_t keywords = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < keywords; k++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, k);
        int slot = 0;
        while (slot < 3 && PyUnicode_CompareWithASCIIString(name, names[slot]) != 0) {
            slot++;
        }
        if (slot == 3) {
            PyErr_Format(PyExc_TypeError, "get() got an unexpected keyword argument '%U'", name);
            return NULL;
        }
        if (given[slot] != NULL) {
            PyErr_Format(PyExc_TypeError, "get() got multiple values for argument '%s'",
                         names[slot]);
            return NULL;
        }
        given[slot] = args[nargs + k];
    }
    if (given[0] == NULL) {
        PyErr_SetString(PyExc_TypeError, "get() missing required argument 'key'");
        return NULL;
    }
    PyObject *fallback = given[1] != NULL ? given[1] : Py_None;
    PyObject *type = given[2] != NULL ? given[2] : Py_None;
    PyObject *value = PyDict_GetItemWithError(self, given[0]); /* borrowed */
    if (value == NULL) {
        return PyErr_Occurred() ? NULL : Py_NewRef(fallback);
    }
    if (type == Py_None) {
        return Py_NewRef(value);
    }
    Py_INCREF(value); /* the converter may change the dict: hold the value across the call */
    PyObject *converted = PyObject_CallOneArg(type, value);
    Py_DECREF(value);
    if (converted == NULL && (PyErr_ExceptionMatches(PyExc_ValueError) ||
                              PyErr_ExceptionMatches(PyExc_TypeError))) {
        PyErr_Clear();
        return Py_NewRef(fallback);
    }
    return converted;
}

static PyMethodDef multidict_get_def = {
    "get", (PyCFunction)(void (*)(void))multidict_get, METH_FASTCALL | METH_KEYWORDS,
    "get(key, default=None, type=None)\n--\n\n"
    "The first value of `key`, else `default`; with `type`, the value converted, or `default`\n"
    "when the conversion raises ValueError or TypeError (as Werkzeug's).",
};

static PyMethodDef methods[] = {
    {"query_args", (PyCFunction)(void (*)(void))query_args, METH_FASTCALL,
     "query_args(query, multidict_type, max_fields)\n--\n\n"
     "The query's MultiDict, or None where rush.request.python_query_args must read it."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "rush._request",
    .m_doc = "C accelerator of rush.request (see there).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__request(void)
{
    if (PyType_Ready(&RequestMakerType) < 0) {
        return NULL;
    }
    empty_tuple = PyTuple_New(0);
    str_pairs = PyUnicode_InternFromString("_pairs");
    if (empty_tuple == NULL || str_pairs == NULL) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    /* A method descriptor of dict (as dict.get is): bound and called as fast, on any dict. */
    PyObject *get = PyDescr_NewMethod(&PyDict_Type, &multidict_get_def);
    if (get == NULL || PyModule_AddObjectRef(module, "multidict_get", get) < 0 ||
        PyModule_AddObjectRef(module, "RequestMaker", (PyObject *)&RequestMakerType) < 0) {
        Py_CLEAR(module);
    }
    Py_XDECREF(get);
    return module;
}
