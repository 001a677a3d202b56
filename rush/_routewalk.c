/* The C accelerator of rush.routetrie: Walker(root, fallback, Node, Edge, Leaf) is a matcher
 * with exactly the results of `fallback`, the pure-Python RouteTrie.match of the same trie.
 *
 * Facts and strategy:
 * - It walks the trie's own Python objects, so there is no copy to keep in step with insert:
 *   the slots of Node, Edge and Leaf are read at the offsets of their __slots__ descriptors,
 *   found once per Walker, after checking each object's exact type.
 * - It walks as RouteTrie.match does, only while each node leaves one way on: a literal child
 *   and no edges, or no literal child and one whole-segment edge (`lone`). A string or int
 *   segment is tested in C (Edge.shape: non-empty; ASCII digits, as the regex [0-9]+ and
 *   unlike int()), any other with the edge's own `test` or `fullmatch`. At the leaf it calls
 *   the route's converters; a ValueError is a miss, as there.
 * - Anything else (a real choice, a path or tail edge, more than MAX_VALUES parameters, an
 *   object not as expected) hands the whole path to `fallback`: the walk declines, it never
 *   answers differently. Exceptions from user code propagate as in Python.
 * - The path is scanned in place; one str is made per segment (the dict key, the value).
 *   Every object used across a call into Python is held by a strong reference.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "_slots.h"

#define MAX_VALUES 32
enum { SHAPE_CALL = 0, SHAPE_NONEMPTY = 1, SHAPE_DIGITS = 2 }; /* routetrie.Edge.shape */
enum { MISS, FOUND, DECLINE, ERROR };                           /* how a step ends */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *root, *fallback;
    PyTypeObject *node_type, *edge_type, *leaf_type;
    Py_ssize_t literal, edges, lone, leaf;          /* Node slots */
    Py_ssize_t whole, shape, test, fullmatch, next; /* Edge slots (`next` is Edge.node) */
    Py_ssize_t route, params;                       /* Leaf slots */
} Walker;

static PyObject *str_groups; /* "groups", interned */

/* Test a whole segment with `edge` and keep its text, or its groups for a segment mixing text
 * and parameters: FOUND, MISS, DECLINE or ERROR. */
static int
take(Walker *self, PyObject *edge, PyObject *segment, PyObject **values, Py_ssize_t *count)
{
    PyObject *whole = SLOT(edge, self->whole);
    if (whole == Py_True) {
        PyObject *shape = SLOT(edge, self->shape);
        long code = shape != NULL && PyLong_CheckExact(shape) ? PyLong_AsLong(shape) : -1;
        Py_ssize_t length = PyUnicode_GET_LENGTH(segment);
        if (code == SHAPE_NONEMPTY) {
            if (length == 0) {
                return MISS;
            }
        }
        else if (code == SHAPE_DIGITS) {
            int kind = PyUnicode_KIND(segment);
            const void *data = PyUnicode_DATA(segment);
            if (length == 0) {
                return MISS;
            }
            for (Py_ssize_t i = 0; i < length; i++) {
                Py_UCS4 c = PyUnicode_READ(kind, data, i);
                if (c < '0' || c > '9') {
                    return MISS;
                }
            }
        }
        else if (code == SHAPE_CALL) {
            PyObject *test = SLOT(edge, self->test);
            if (test == NULL) {
                return DECLINE;
            }
            PyObject *result = PyObject_CallOneArg(test, segment);
            if (result == NULL) {
                return ERROR;
            }
            int fits = PyObject_IsTrue(result);
            Py_DECREF(result);
            if (fits <= 0) {
                return fits < 0 ? ERROR : MISS;
            }
        }
        else {
            if (PyErr_Occurred()) {
                PyErr_Clear(); /* an int that is not a C long: not a shape we know */
            }
            return DECLINE;
        }
        if (*count == MAX_VALUES) {
            return DECLINE;
        }
        Py_INCREF(segment);
        values[(*count)++] = segment;
        return FOUND;
    }
    PyObject *fullmatch = SLOT(edge, self->fullmatch);
    if (whole != Py_False || fullmatch == NULL) {
        return DECLINE;
    }
    PyObject *match = PyObject_CallOneArg(fullmatch, segment);
    if (match == NULL) {
        return ERROR;
    }
    if (match == Py_None) {
        Py_DECREF(match);
        return MISS;
    }
    PyObject *groups = PyObject_CallMethodNoArgs(match, str_groups);
    Py_DECREF(match);
    if (groups == NULL) {
        return ERROR;
    }
    Py_ssize_t size = PyTuple_CheckExact(groups) ? PyTuple_GET_SIZE(groups) : MAX_VALUES + 1;
    if (*count + size > MAX_VALUES) {
        Py_DECREF(groups);
        return DECLINE;
    }
    for (Py_ssize_t i = 0; i < size; i++) {
        PyObject *value = PyTuple_GET_ITEM(groups, i);
        Py_INCREF(value);
        values[(*count)++] = value;
    }
    Py_DECREF(groups);
    return FOUND;
}

/* One segment from `*node` (a strong reference, replaced by the next node on FOUND). */
static int
step(Walker *self, PyObject **node, PyObject *segment, PyObject **values, Py_ssize_t *count)
{
    if (Py_TYPE(*node) != self->node_type) {
        return DECLINE;
    }
    PyObject *literal = SLOT(*node, self->literal);
    PyObject *edges = SLOT(*node, self->edges);
    if (literal == NULL || !PyDict_CheckExact(literal) || edges == NULL ||
        !PyList_CheckExact(edges)) {
        return DECLINE;
    }
    PyObject *next = NULL; /* borrowed */
    if (PyDict_GET_SIZE(literal) > 0) { /* PERF: a parameter's node has none: no hash */
        next = PyDict_GetItemWithError(literal, segment);
        if (next == NULL && PyErr_Occurred()) {
            return ERROR;
        }
    }
    if (PyList_GET_SIZE(edges) == 0) {
        if (next == NULL) {
            return MISS;
        }
        Py_INCREF(next);
        Py_SETREF(*node, next);
        return FOUND;
    }
    PyObject *edge = SLOT(*node, self->lone);
    if (next != NULL || edge == NULL || Py_TYPE(edge) != self->edge_type) {
        return DECLINE; /* a real choice (or no lone edge): RouteTrie's search decides */
    }
    Py_INCREF(edge);
    int outcome = take(self, edge, segment, values, count);
    if (outcome == FOUND) {
        next = SLOT(edge, self->next);
        if (next == NULL) {
            outcome = DECLINE;
        }
        else {
            Py_INCREF(next);
            Py_SETREF(*node, next);
        }
    }
    Py_DECREF(edge);
    return outcome;
}

/* Walk the whole path; on FOUND, `*leaf` is a new reference to the Leaf at its end. */
static int
walk(Walker *self, PyObject *path, PyObject **values, Py_ssize_t *count, PyObject **leaf)
{
    int kind = PyUnicode_KIND(path);
    const void *data = PyUnicode_DATA(path);
    Py_ssize_t length = PyUnicode_GET_LENGTH(path);
    PyObject *node = Py_NewRef(self->root);
    int outcome = FOUND;
    for (Py_ssize_t start = 0, end; outcome == FOUND; start = end + 1) {
        if (kind == PyUnicode_1BYTE_KIND) {
            const char *slash = memchr((const char *)data + start, '/', length - start);
            end = slash == NULL ? length : slash - (const char *)data;
        }
        else {
            for (end = start; end < length && PyUnicode_READ(kind, data, end) != '/'; end++) {
            }
        }
        PyObject *segment = PyUnicode_Substring(path, start, end);
        if (segment == NULL) {
            outcome = ERROR;
            break;
        }
        outcome = step(self, &node, segment, values, count);
        Py_DECREF(segment);
        if (end == length) {
            break;
        }
    }
    if (outcome == FOUND) {
        PyObject *found = Py_TYPE(node) == self->node_type ? SLOT(node, self->leaf) : NULL;
        if (found == NULL || (found != Py_None && Py_TYPE(found) != self->leaf_type)) {
            outcome = DECLINE;
        }
        else if (found == Py_None) {
            outcome = MISS;
        }
        else {
            *leaf = Py_NewRef(found);
        }
    }
    Py_DECREF(node);
    return outcome;
}

/* Whether `text` is 1 to 18 ASCII digits, whose value int(text) is then `*number`. */
static int
small_digits(PyObject *text, long long *number)
{
    if (!PyUnicode_CheckExact(text) || PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND) {
        return 0;
    }
    const unsigned char *data = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    if (length == 0 || length > 18) {
        return 0;
    }
    long long value = 0;
    for (Py_ssize_t i = 0; i < length; i++) {
        if (data[i] < '0' || data[i] > '9') {
            return 0;
        }
        value = value * 10 + (data[i] - '0');
    }
    *number = value;
    return 1;
}

/* (route, {name: converted value}) into `*result`, or MISS where a converter refuses. */
static int
convert(Walker *self, PyObject *leaf, PyObject **values, Py_ssize_t count, PyObject **result)
{
    PyObject *route = SLOT(leaf, self->route), *params = SLOT(leaf, self->params);
    if (route == NULL || params == NULL || !PyList_CheckExact(params) ||
        PyList_GET_SIZE(params) != count) {
        return DECLINE;
    }
    Py_INCREF(route);
    Py_INCREF(params);
    int outcome = FOUND;
    PyObject *converted = PyDict_New();
    if (converted == NULL) {
        outcome = ERROR;
    }
    for (Py_ssize_t i = 0; outcome == FOUND && i < count; i++) {
        if (i >= PyList_GET_SIZE(params)) {
            outcome = DECLINE;
            break;
        }
        PyObject *pair = Py_NewRef(PyList_GET_ITEM(params, i));
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
            outcome = DECLINE;
        }
        else {
            PyObject *function = PyTuple_GET_ITEM(pair, 1), *value;
            long long number;
            if (function == (PyObject *)&PyUnicode_Type && PyUnicode_CheckExact(values[i])) {
                value = Py_NewRef(values[i]); /* PERF: str(text) is text: no call */
            }
            else if (function == (PyObject *)&PyLong_Type && small_digits(values[i], &number)) {
                value = PyLong_FromLongLong(number); /* PERF: int(text) without the call */
            }
            else {
                value = PyObject_CallOneArg(function, values[i]);
            }
            if (value == NULL) {
                if (PyErr_ExceptionMatches(PyExc_ValueError)) {
                    PyErr_Clear(); /* the only candidate refuses: a miss */
                    outcome = MISS;
                }
                else {
                    outcome = ERROR;
                }
            }
            else {
                if (PyDict_SetItem(converted, PyTuple_GET_ITEM(pair, 0), value) < 0) {
                    outcome = ERROR;
                }
                Py_DECREF(value);
            }
        }
        Py_DECREF(pair);
    }
    if (outcome == FOUND) {
        *result = PyTuple_Pack(2, route, converted);
        if (*result == NULL) {
            outcome = ERROR;
        }
    }
    Py_XDECREF(converted);
    Py_DECREF(params);
    Py_DECREF(route);
    return outcome;
}

static PyObject *
walker_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Walker *self = (Walker *)op;
    if (PyVectorcall_NARGS(nargsf) != 1 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "a Walker takes one argument, the path");
        return NULL;
    }
    PyObject *path = args[0], *values[MAX_VALUES], *leaf = NULL, *result = NULL;
    Py_ssize_t count = 0;
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_CheckExact(path) && PyUnicode_READY(path) < 0) {
        return NULL; /* a str of the deprecated wchar_t API, not made ready yet */
    }
#endif
    int outcome = PyUnicode_CheckExact(path) ? walk(self, path, values, &count, &leaf) : DECLINE;
    if (outcome == FOUND) {
        outcome = convert(self, leaf, values, count, &result);
        Py_DECREF(leaf);
    }
    while (count > 0) {
        Py_DECREF(values[--count]);
    }
    switch (outcome) {
    case FOUND:
        return result;
    case MISS:
        Py_RETURN_NONE;
    case DECLINE:
        return PyObject_CallOneArg(self->fallback, path);
    default:
        return NULL;
    }
}

static PyObject *
walker_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *root, *fallback;
    PyTypeObject *node_type, *edge_type, *leaf_type;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "Walker takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "OOO!O!O!:Walker", &root, &fallback, &PyType_Type, &node_type,
                          &PyType_Type, &edge_type, &PyType_Type, &leaf_type)) {
        return NULL;
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "Walker: the fallback must be callable");
        return NULL;
    }
    Walker *self = (Walker *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->vectorcall = walker_vectorcall;
    self->root = Py_NewRef(root);
    self->fallback = Py_NewRef(fallback);
    self->node_type = (PyTypeObject *)Py_NewRef(node_type);
    self->edge_type = (PyTypeObject *)Py_NewRef(edge_type);
    self->leaf_type = (PyTypeObject *)Py_NewRef(leaf_type);
    struct {
        Py_ssize_t *offset;
        PyTypeObject *type;
        const char *name;
    } slots[] = {
        {&self->literal, node_type, "literal"}, {&self->edges, node_type, "edges"},
        {&self->lone, node_type, "lone"},       {&self->leaf, node_type, "leaf"},
        {&self->whole, edge_type, "whole"},     {&self->shape, edge_type, "shape"},
        {&self->test, edge_type, "test"},       {&self->fullmatch, edge_type, "fullmatch"},
        {&self->next, edge_type, "node"},       {&self->route, leaf_type, "route"},
        {&self->params, leaf_type, "params"},
    };
    for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
        *slots[i].offset = slot_offset(slots[i].type, slots[i].name);
        if (*slots[i].offset < 0) {
            Py_DECREF(self);
            return NULL;
        }
    }
    return (PyObject *)self;
}

static int
walker_traverse(Walker *self, visitproc visit, void *arg)
{
    Py_VISIT(self->root);
    Py_VISIT(self->fallback);
    Py_VISIT(self->node_type);
    Py_VISIT(self->edge_type);
    Py_VISIT(self->leaf_type);
    return 0;
}

static int
walker_clear(Walker *self)
{
    Py_CLEAR(self->root);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->node_type);
    Py_CLEAR(self->edge_type);
    Py_CLEAR(self->leaf_type);
    return 0;
}

static void
walker_dealloc(Walker *self)
{
    PyObject_GC_UnTrack(self);
    walker_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyDoc_STRVAR(walker_doc,
             "Walker(root, fallback, Node, Edge, Leaf)\n--\n\n"
             "Called with a path: what fallback(path) returns, RouteTrie.match of the trie\n"
             "whose root is given, walked in C where it leaves one way on (rush.routetrie).");

static PyTypeObject WalkerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "rush._routewalk.Walker",
    .tp_basicsize = sizeof(Walker),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = walker_doc,
    .tp_new = walker_new,
    .tp_dealloc = (destructor)walker_dealloc,
    .tp_traverse = (traverseproc)walker_traverse,
    .tp_clear = (inquiry)walker_clear,
    .tp_vectorcall_offset = offsetof(Walker, vectorcall),
    .tp_call = PyVectorcall_Call,
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "rush._routewalk",
    .m_doc = "C accelerator of rush.routetrie (see there).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__routewalk(void)
{
    if (PyType_Ready(&WalkerType) < 0) {
        return NULL;
    }
    str_groups = PyUnicode_InternFromString("groups");
    if (str_groups == NULL) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (PyModule_AddObjectRef(module, "Walker", (PyObject *)&WalkerType) < 0 ||
        PyModule_AddIntConstant(module, "NONEMPTY", SHAPE_NONEMPTY) < 0 ||
        PyModule_AddIntConstant(module, "DIGITS", SHAPE_DIGITS) < 0 ||
        PyModule_AddIntConstant(module, "MAX_VALUES", MAX_VALUES) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
