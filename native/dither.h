/* dither.h -- placeholder: declarations are added with the implementation. */
#ifndef OB_DITHER_H
#define OB_DITHER_H
#endif
