/* compressor.h -- placeholder: declarations are added with the implementation. */
#ifndef OB_COMPRESSOR_H
#define OB_COMPRESSOR_H
#endif
