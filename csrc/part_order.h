/* The order in which OpenCV's 8-connected labelling numbers parts, shared by the modules
 * that number parts as it does (parts_module.c, pieces_module.c): by value, then by the
 * first 2x2 block each part reaches, counted from its value's anchor (the corner of the
 * image OpenCV would be given). Two parts of one value never share a block: any two
 * pixels of a 2x2 block touch. */
#ifndef ROADMARK_PART_ORDER_H
#define ROADMARK_PART_ORDER_H

#include <stdint.h>

/* A part: its value, its first 2x2 block (from its value's anchor), its box, its pixels,
 * and the labelling's own number for it (index). */
typedef struct {
    int32_t value, block_y, block_x, left, top, right, bottom, area, index;
} Part;

static int
part_order(const void *a, const void *b)
{
    const Part *p = a, *q = b;
    if (p->value != q->value) {
        return p->value < q->value ? -1 : 1;
    }
    if (p->block_y != q->block_y) {
        return p->block_y < q->block_y ? -1 : 1;
    }
    return (p->block_x > q->block_x) - (p->block_x < q->block_x);
}

#endif
