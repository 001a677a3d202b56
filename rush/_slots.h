/* Reading and writing the __slots__ of Python classes from C: rush/_routewalk.c reads the route
 * trie's Node, Edge and Leaf, rush/_request.c writes a Request's. A slot's offset is found once,
 * from its member descriptor, and used for every object of the class. */
#ifndef RUSH_SLOTS_H
#define RUSH_SLOTS_H

#include <Python.h>
#include <structmember.h>

#ifndef Py_T_OBJECT_EX
#define Py_T_OBJECT_EX T_OBJECT_EX
#endif

/* A slot's value, borrowed; NULL when it is unset. Assigned to, it takes a reference. */
#define SLOT(obj, offset) (*(PyObject **)((char *)(obj) + (offset)))

/* The offset of `type`'s slot `name`, or -1 with an exception set. */
static Py_ssize_t
slot_offset(PyTypeObject *type, const char *name)
{
    PyObject *descr = PyObject_GetAttrString((PyObject *)type, name);
    if (descr == NULL) {
        return -1;
    }
    Py_ssize_t offset = -1;
    /* A member of `type`'s own layout (its class or a base), not one set on it from another
     * class, whose offset would point into something else. */
    if (Py_IS_TYPE(descr, &PyMemberDescr_Type) && PyType_IsSubtype(type, PyDescr_TYPE(descr))) {
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type == Py_T_OBJECT_EX) {
            offset = member->offset;
        }
    }
    Py_DECREF(descr);
    if (offset < 0) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not a __slots__ member", type->tp_name, name);
    }
    return offset;
}

#endif
