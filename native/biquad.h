/* biquad.h -- placeholder: declarations are added with the implementation. */
#ifndef OB_BIQUAD_H
#define OB_BIQUAD_H
#endif
