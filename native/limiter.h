/* limiter.h -- placeholder: declarations are added with the implementation. */
#ifndef OB_LIMITER_H
#define OB_LIMITER_H
#endif
