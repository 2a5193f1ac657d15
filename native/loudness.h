/* loudness.h -- placeholder: declarations are added with the implementation. */
#ifndef OB_LOUDNESS_H
#define OB_LOUDNESS_H
#endif
