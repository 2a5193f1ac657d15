/* truepeak.h -- placeholder: declarations are added with the implementation. */
#ifndef OB_TRUEPEAK_H
#define OB_TRUEPEAK_H
#endif
