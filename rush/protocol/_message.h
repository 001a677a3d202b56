/* The layout of rush.protocol._heads.MessageFields, the C twin of parser.PythonMessageFields
 * (RequestMessage derives from it and adds only methods). _heads.c defines the type;
 * _answers.c reads the fields of its instances directly. A member is NULL while unset. */
#ifndef RUSH_MESSAGE_H
#define RUSH_MESSAGE_H

#include <Python.h>

typedef struct {
    PyObject_HEAD
    PyObject *method, *target, *version, *headers, *keep_alive, *content_length, *chunked,
        *expect_continue, *body_parts, *body_size, *body_sink, *body_limit, *body_wanted,
        *complete;
} Message;

#endif
